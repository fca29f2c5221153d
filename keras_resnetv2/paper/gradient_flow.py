"""Gradient flow through the residual units: the norm of dE/dx_l (Sec. 3 of the paper).

With identity shortcuts and identity after-addition functions (Eq. 4-5 of
arXiv:1603.05027),

    dE/dx_l = dE/dx_L (1 + d/dx_l sum_{i=l}^{L-1} F(x_i, W_i)),

so the top's gradient dE/dx_L reaches every unit l unscaled; a shortcut that scales
x_l by lambda_l multiplies it by prod_i lambda_i instead (Eq. 7), which vanishes or
explodes with depth. `gradient_norms` measures ||dE/dx_l|| at the input x_l of every
residual unit of a built model, to compare shortcuts and activation orders at
initialization and after training (`bench/gradient_flow.py`).

Residual units are found by name, the convention of `units.py` and keras.applications:
unit `p` is the layers `{p}_...`, from its first branch conv `{p}_1_conv` to its
output `{p}_out`. Departures from the paper's idealized setting:

* Eq. 4 holds between units that keep their shape: the first unit of a stage
  subsamples or projects its shortcut, which changes the norm even with identity
  shortcuts.
* E is `loss(labels, model(images))`, without the regularization penalties; by default
  BatchNorm normalizes with the batch's statistics, as in a training step.
* TensorFlow backend only (`tf.GradientTape`): Keras has no backend-agnostic gradient
  with respect to intermediate tensors.
"""

import dataclasses
from typing import Tuple

import keras
import numpy as np

from keras_resnetv2.utils.checks import fail

# The layers that read a unit's input x_l, by order of preference: the pre-activation
# (Fig. 4(d), 4(e)), else the padding or the first conv of the branch.
_UNIT_ENTRIES = ("preact_bn", "preact_relu", "1_pad", "1_conv")


@dataclasses.dataclass(frozen=True)
class GradientNorms:
    """What `gradient_norms` returns.

    Attributes:
        units: the residual units' names, input to output (e.g. `"conv2_block1"`).
        norms: ||dE/dx_l||_2 over the whole batch, x_l the input of unit l.
        example_norms: the mean over the batch of each example's ||dE/dx_l||_2.
        output_norm, output_example_norm: the same at x_L, the last unit's output.
        loss: E.
    """

    units: Tuple[str, ...]
    norms: Tuple[float, ...]
    example_norms: Tuple[float, ...]
    output_norm: float
    output_example_norm: float
    loss: float

    @property
    def relative_norms(self):
        """||dE/dx_l|| / ||dE/dx_L|| per unit, x_L the last unit's input.

        Eq. 4-7 with F = 0: 1 everywhere for identity shortcuts and identity
        after-addition functions, lambda^(L-l) for shortcuts scaled by lambda.
        """
        return tuple(n / self.norms[-1] for n in self.norms)

    def to_dict(self):
        return dataclasses.asdict(self)


def residual_units(model):
    """The names of `model`'s residual units, input to output; raises if there are none."""
    if not isinstance(model, keras.Model):
        fail("model", "`model` must be a Functional `keras.Model`.", model)
    names = {layer.name for layer in model.layers}
    units = [
        layer.name[: -len("_out")]
        for layer in model.layers
        if layer.name.endswith("_out") and layer.name[: -len("_out")] + "_1_conv" in names
    ]
    if not units:
        fail(
            "model",
            "`model` has no residual units (layers named `{unit}_1_conv` ... `{unit}_out`, "
            "as the keras_resnetv2 and keras.applications ResNets name them).",
            model.name,
        )
    return units


def gradient_norms(model, images, labels, *, loss=None, training=True):
    """The norm of dE/dx_l at the input x_l of every residual unit of `model`.

    Args:
        model: a Functional ResNet (`keras_resnetv2.ResNet`, a variant builder or a
            keras.applications ResNet), with one input and one output.
        images: a batch of (preprocessed) images.
        labels: their labels.
        loss: a Keras loss (name or object) of `(labels, model output)`; default:
            sparse categorical cross-entropy, of the logits unless the model ends
            with a softmax.
        training: run the model in training mode (BatchNorm on batch statistics,
            dropout shortcuts active). The model's variables are left unchanged.

    Returns:
        A `GradientNorms`.
    """
    units = residual_units(model)
    if keras.backend.backend() != "tensorflow":
        fail("backend", "`gradient_norms` needs the TensorFlow backend.", keras.backend.backend())
    if np.shape(labels)[:1] != np.shape(images)[:1]:
        fail("labels", f"`labels` must have one entry per image ({np.shape(images)[0]}).", np.shape(labels))
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    loss = _default_loss(model) if loss is None else keras.losses.get(loss)
    names = {layer.name for layer in model.layers}
    probes = [_unit_input(model, unit, names) for unit in units]
    probes.append(model.get_layer(f"{units[-1]}_out").output)
    probe = keras.Model(model.inputs, [*probes, model.output])
    images = tf.convert_to_tensor(images, dtype=model.inputs[0].dtype)
    with tf.GradientTape() as tape:
        tape.watch(images)
        (*tensors, outputs), _ = probe.stateless_call(
            [v.value for v in probe.trainable_variables],
            [v.value for v in probe.non_trainable_variables],
            images,
            training=training,
        )
        energy = loss(labels, outputs)
    per_example = [_example_norms(g) for g in tape.gradient(energy, tensors)]
    norms = [float(np.sqrt(np.sum(np.square(e)))) for e in per_example]
    means = [float(np.mean(e)) for e in per_example]
    return GradientNorms(
        units=tuple(units),
        norms=tuple(norms[:-1]),
        example_norms=tuple(means[:-1]),
        output_norm=norms[-1],
        output_example_norm=means[-1],
        loss=float(energy),
    )


def _unit_input(model, unit, names):
    entry = next(f"{unit}_{s}" for s in _UNIT_ENTRIES if f"{unit}_{s}" in names)
    return model.get_layer(entry).input


def _default_loss(model):
    softmax = getattr(model.layers[-1], "activation", None) is keras.activations.softmax
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax)


def _example_norms(gradient):
    gradient = np.asarray(gradient, np.float64)
    return np.sqrt(np.sum(np.square(gradient.reshape(len(gradient), -1)), axis=1))
