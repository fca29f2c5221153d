"""The paper's own material: its ablation tables, their reproduction report, the gradient-flow diagnostic.

    ablations.py       Tables 1 and 2 of arXiv:1603.05027 as spec overrides with the paper's errors
    reproduction.py    REPRODUCTION.md and its plot from ablation searches' trials
    gradient_flow.py   per-unit gradient norms (Eqs. 4 and 7), the diagnostic of Sec. 3
    depth_comparison.py  Table 3: original vs pre-activation at one depth, with seed noise

Imports the model core and the utilities only; the tuner searches these tables.
"""
