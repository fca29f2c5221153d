"""KerasTuner searches over the design space of arXiv:1603.05027.

    space.py        the search-space language: dimensions, pins, ranges, `declare`
    hypermodel.py   `HyperResNet`: a trial's hyperparameters -> spec, recipe, compiled model
    search.py       `TuneConfig` and `search`: the driver, resumable and distributable
    report.py       the ranked trial table, plot and best spec of a search

`hypermodel` and `search` need KerasTuner (the `[tune]` extra) and TensorFlow;
`space` and `report` do not, so that train.py can define its flags and read a
search's best spec without KerasTuner installed. Import the modules themselves
(`from keras_resnetv2.tuning import search`). The paper's ablation tables
are data of `keras_resnetv2.paper.ablations`; KerasTuner's private APIs that make
searches resumable are fenced in `keras_resnetv2._compat.keras_tuner`.
"""
