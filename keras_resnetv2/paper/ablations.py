"""The paper's ablation tables as data: each row a `ResNetSpec` override and its error.

Table 1 (shortcuts, on the original unit) and Table 2 (activation orders, identity
shortcut) of arXiv:1603.05027, with the paper's CIFAR-10 test error (%) of ResNet-110
(Table 1; "fail" = above 20%) and ResNet-110 / ResNet-164 (Table 2). The tuner's
ablation mode searches exactly these rows; the reproduction report sets the measured
errors beside the paper's.
"""

ABLATIONS = {
    "table1": {
        "identity": ({"order": "original", "shortcut": "identity"}, "6.61"),
        "constant_scaling": ({"order": "original", "shortcut": "constant_scaling", "shortcut_scale": 0.5}, "fail"),
        "constant_scaling_both": (
            {"order": "original", "shortcut": "constant_scaling", "shortcut_scale": 0.5, "scale_branch": True}, "12.35"),
        "exclusive_gating": ({"order": "original", "shortcut": "exclusive_gating", "gate_bias": -6.0}, "8.70"),
        "shortcut_only_gating_b0": ({"order": "original", "shortcut": "shortcut_only_gating", "gate_bias": 0.0}, "12.86"),
        "shortcut_only_gating": ({"order": "original", "shortcut": "shortcut_only_gating", "gate_bias": -6.0}, "6.91"),
        "conv1x1": ({"order": "original", "shortcut": "conv1x1"}, "12.22"),
        "dropout": ({"order": "original", "shortcut": "dropout", "dropout_rate": 0.5}, "fail"),
    },
    "table2": {
        order: ({"order": order, "shortcut": "identity"}, error)
        for order, error in (
            ("original", "6.61 / 5.93"),
            ("bn_after_addition", "8.17 / 6.50"),
            ("relu_before_addition", "7.84 / 6.14"),
            ("relu_only_preactivation", "6.71 / 5.91"),
            ("full_preactivation", "6.37 / 5.46"),
        )
    },
}
