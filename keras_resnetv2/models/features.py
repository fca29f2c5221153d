"""Where a net downsamples, and its multi-scale feature maps (`features_only=True`).

A net has one feature map per stride: the output of the last layer computed at
that resolution, named by the layer (keras.applications' names). In order:

* the stem: stride 2 for the ImageNet stem, taken before the max pool. v1 nets:
  `conv1_relu` (after the stem's BN-ReLU). Pre-activation nets leave the stem bare,
  so their map is the raw conv output `conv1_conv`, before any BN-ReLU (timm, too,
  takes the stem conv of its pre-activation nets). The CIFAR stem keeps the input's
  resolution, so the first stage's map replaces it.
* each stride the stages reach: the output `conv{s}_block{i}_out` of the last unit
  at that stride. Where the stride sits on a stage's last unit (keras' V2 layout,
  TF-slim), that is the unit before it: ResNet50V2's stride-4 map is
  `conv2_block2_out`, since `conv2_block3` already downsamples. In pre-activation
  nets a unit's output is the raw sum of shortcut and branch, before any BN-ReLU
  (the next unit's pre-activation normalizes it), as timm's stage outputs are; in
  v1 nets it is after the unit's final ReLU.
* the last map is the network's last feature tensor, which pre-activation nets
  end with one more BN-ReLU: `post_relu`, after the final `post_bn`/`post_relu`.
  It equals the `include_top=False, pooling=None` output and keeps the trained
  `post_bn`. (timm's `features_only` takes its last stage before that norm; its
  `forward_intermediates(norm=True)` after it.)

ImageNet nets: strides 2, 4, 8, 16, 32 (ResNet50V2: `conv1_conv`,
`conv2_block2_out`, `conv3_block3_out`, `conv4_block5_out`, `post_relu`). The
3-stage CIFAR nets: strides 1, 2, 4 (ResNet20: `conv2_block3_out`,
`conv3_block3_out`, `conv4_block3_out`; ResNet20V2 ends with `post_relu`).
"""

from typing import NamedTuple

import keras

from keras_resnetv2.models.spec import ORDERS, STEMS, is_preactivation
from keras_resnetv2.utils.checks import fail


class FeatureMap(NamedTuple):
    """One feature map: the layer whose output it is, its stride and channels."""

    name: str
    stride: int
    channels: int


def unit_stride(spec, stage, unit):
    """The stride of unit `unit` (0-based) of stage `stage` (0-based)."""
    if spec.stride_placement == "first":
        return 2 if (stage > 0 and unit == 0) else 1
    last_stage = len(spec.stage_units) - 1
    return 2 if (stage < last_stage and unit == spec.stage_units[stage] - 1) else 1


def feature_maps(spec):
    """The `FeatureMap`s of `spec`'s net, one per stride, by increasing stride."""
    stem = STEMS[spec.stem]
    candidates = [FeatureMap("conv1_conv" if is_preactivation(spec.order) else "conv1_relu", stem.stride, spec.stem_width)]
    stride = stem.stride * (2 if stem.max_pool else 1)
    for stage, (units, width) in enumerate(zip(spec.stage_units, spec.stage_widths)):
        for unit in range(units):
            stride *= unit_stride(spec, stage, unit)
            candidates.append(FeatureMap(f"conv{stage + 2}_block{unit + 1}_out", stride, width * spec.expansion))
    post = ORDERS[spec.order].preactivation
    if post:
        candidates.append(FeatureMap(f"post_{post[-1]}", stride, spec.output_channels))
    last_at_stride = {}
    for candidate in candidates:  # strides never decrease: a later map replaces an earlier one
        last_at_stride[candidate.stride] = candidate
    return list(last_at_stride.values())


def select_feature_maps(spec, out_indices):
    """The maps `out_indices` picks (indices into `feature_maps(spec)`; None: all),
    by increasing stride whatever the order given."""
    maps = feature_maps(spec)
    if out_indices is None:
        return maps
    valid = list(range(len(maps)))
    if (
        not isinstance(out_indices, (list, tuple))
        or not out_indices
        or not all(isinstance(i, int) and not isinstance(i, bool) and i in valid for i in out_indices)
        or len(set(out_indices)) != len(out_indices)
    ):
        fail(
            "out_indices",
            f"`out_indices` must be a non-empty list or tuple of distinct feature map indices "
            f"from {valid} (strides {[m.stride for m in maps]}).",
            out_indices,
        )
    return [maps[i] for i in sorted(out_indices)]


def features_model(model, maps, name):
    """A `keras.Model` from `model`'s inputs to the outputs of the `maps`' layers.

    The layers (and their weights) are `model`'s own; the graph is cut after the
    last map, so a subset of early maps computes only what it needs.
    """
    return keras.Model(model.input, [model.get_layer(m.name).output for m in maps], name=name)
