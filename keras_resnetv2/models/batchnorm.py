"""`batchnorm.BatchNormalization`: Keras' BatchNormalization, through TF's fused kernel.

Keras 3's `BatchNormalization` under TensorFlow computes with `tf.nn.moments` and
element-wise ops, each a pass over the activations, and as many in the gradient:
on a CPU a quarter (ResNet-20V2) to a half (ResNet-164V2) of a training step
(`bench/batchnorm_cost.py`). This subclass computes the same function with one
`FusedBatchNormV3` kernel forward and one backward, as Keras 2 and PyTorch (oneDNN)
do. The builders use it by default
(`ResNet(..., fused_batchnorm=False)` gives Keras' layer).

What it keeps, so that nothing a user relies on changes:

* Keras' variables, names, config and weights files: the class keeps Keras' name,
  and a model saves (`.keras`, `.h5`, `to_json`) as Keras' own
  `keras.layers.BatchNormalization` (`_compat.keras.serialize_as`), so the file
  loads with plain Keras in a process that never imports keras_resnetv2,
  `safe_mode=True` and no `custom_objects`. Loaded that way, or reloaded in any
  process, the layers are Keras' again: `with_fused_batch_norm(model)` brings the
  fused kernel back.
* Keras' own implementation wherever the fused kernel does not apply: other
  backends (JAX and torch compute exactly what Keras does), synchronized
  statistics, renorm, masks, channels-first or non-4D inputs, `center`/`scale` off.

At inference (and for a frozen layer) the layer normalizes with the moving
statistics in a form chosen from the op that produced its input when a graph is
traced. After a bias-free convolution (a `Conv2D` op), the fused kernel: TensorFlow's
graph optimizer (the remapper, with oneDNN) then folds it and its ReLU into the
convolution. Anywhere else (after an addition, as each pre-activation unit's first
BatchNorm is, after a bias, or run eagerly) Keras' own formula,
`x * inv + (beta - mean * inv)`. In float32 and bfloat16 (`DEPTHWISE_DTYPES`, the
layer's compute dtype), where TensorFlow runs through oneDNN and every device is a CPU
(`depthwise_form_fuses`), it is computed as a 1x1 depthwise convolution by `inv` and a
bias in that dtype: the same multiply and add per element, which the remapper fuses
with the following ReLU into one oneDNN op, one pass over the activations instead of
three. Under `mixed_bfloat16` `inv` and the shift are rounded to bfloat16 first, where
Keras' layer computes in float32 and rounds its output: the outputs differ by bfloat16
round-off. On an AMX Xeon ResNet-164V2 then predicts 1.45x faster in bfloat16 than in
float32, where the formula with its casts made it 0.70x
(`bench/results/throughput_amx_bf16_inference.md`). Otherwise it is
computed in element-wise ops: without oneDNN the depthwise form took 1.4-3.4x their time
(`bench/results/inference_profile_no_onednn.md`); on a GPU or TPU, XLA (Keras' default
there) fuses them; TensorFlow's float16 convolutions on a CPU are slow. The choice is
made when the graph is traced, on the machine tracing it:
a model compiled with `jit_compile=True` on a CPU runs the depthwise form inside XLA,
and a graph traced on a CPU-only host keeps it wherever it runs later.

On a 2-core AVX2 EPYC (`bench/results/inference_profile.md`, two runs) the depthwise
form took 0.5-1.0x the element-wise formula's time on one layer (0.8-1.2x on the
smallest maps, 8x8x256), and whole nets predicted 1.05-1.06x (ResNet-20V2) and
1.08-1.12x (ResNet-164V2) faster than with the formula, 1.08-1.09x and 1.10-1.16x
faster than with the unfolded fused kernel. The outputs equal Keras' layer's to
float32 round-off (1e-6), not bit for bit: a file reloaded with plain Keras predicts
the same numbers to that precision.

Numerically it matches Keras' layer to float32 round-off: the outputs use the
biased batch variance, and so does the moving variance (the kernel returns the
Bessel-corrected one, which is rescaled by (n - 1) / n before the update). Under a
mixed-precision policy (`mixed_float16`, `mixed_bfloat16`) the kernel takes the
half-precision activations with float32 gamma, beta and statistics, as Keras' layer
computes its statistics in float32.
"""

import keras

from keras_resnetv2._compat.keras import serialize_as
from keras_resnetv2._compat.tensorflow import onednn_enabled

FUSED_DTYPES = ("float32", "float16", "bfloat16")
# Compute dtypes in which the inference form after an addition is the depthwise convolution.
DEPTHWISE_DTYPES = ("float32", "bfloat16")
# Ops the remapper folds a following inference FusedBatchNorm (and its ReLU) into.
FOLDING_PRODUCERS = ("Conv2D", "DepthwiseConv2dNative")


@serialize_as("keras.layers.BatchNormalization")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TF's fused kernel; saved as Keras' layer."""

    def _fusable(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and keras.backend.standardize_dtype(inputs.dtype) in FUSED_DTYPES
            and self.center
            and self.scale
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

        gamma, beta = tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32")
        if training and self.trainable:
            outputs = self._train_step(tf, inputs, gamma, beta)
        else:  # inference, or a frozen layer: the moving statistics, as Keras' layer
            outputs = self._inference_step(tf, inputs, gamma, beta)
        return tf.cast(outputs, self.compute_dtype)

    def _inference_step(self, tf, inputs, gamma, beta):
        """The fused kernel where the remapper folds it into a convolution, else a scale-and-shift."""
        producer = getattr(inputs, "op", None)  # a graph tensor's op; eager tensors have none
        if producer is not None and producer.type in FOLDING_PRODUCERS:
            return self._fused_inference(tf, inputs, gamma, beta)
        if self.compute_dtype in DEPTHWISE_DTYPES and depthwise_form_fuses(tf):
            return self._depthwise_inference(tf, inputs, gamma, beta)
        return self._formula_inference(tf, inputs, gamma, beta)

    def _formula_inference(self, tf, inputs, gamma, beta):
        """Keras' formula, `x * inv + (beta - mean * inv)`, in element-wise ops."""
        scale, shift = self._moving_scale_and_shift(tf, gamma, beta)
        return tf.cast(inputs, "float32") * scale + shift

    def _depthwise_inference(self, tf, inputs, gamma, beta):
        """Keras' formula, `x * inv + (beta - mean * inv)`, as a 1x1 depthwise convolution and a bias.

        The same multiply and add per element, in the compute dtype (equal to its round-off), in
        ops oneDNN's remapper fuses with a following ReLU into one primitive: one pass over the
        activations, not three.
        """
        scale, shift = self._moving_scale_and_shift(tf, gamma, beta)
        dtype = self.compute_dtype
        scaled = tf.nn.depthwise_conv2d(tf.cast(inputs, dtype), tf.cast(tf.reshape(scale, [1, 1, -1, 1]), dtype),
                                        strides=[1, 1, 1, 1], padding="VALID")
        return tf.nn.bias_add(scaled, tf.cast(shift, dtype))

    def _moving_scale_and_shift(self, tf, gamma, beta):
        """`inv = gamma / sqrt(moving_variance + epsilon)` and `beta - moving_mean * inv`, in float32."""
        mean, variance = tf.cast(self.moving_mean, "float32"), tf.cast(self.moving_variance, "float32")
        inv = gamma * tf.math.rsqrt(variance + self.epsilon)
        return inv, beta - mean * inv

    def _fused_inference(self, tf, inputs, gamma, beta):
        """The fused kernel with the moving statistics."""
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
            variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, data_format="NHWC",
            is_training=False,
        )
        return outputs

    def _train_step(self, tf, inputs, gamma, beta):
        """Normalizes with the batch's statistics and updates the moving ones, as Keras does."""
        outputs, mean, corrected_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), corrected_variance.dtype)
        variance = corrected_variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def depthwise_form_fuses(tf):
    """Whether TensorFlow fuses the depthwise form with its ReLU here: oneDNN on, and every
    device a CPU (a GPU or TPU would run it, under XLA in Keras' default, where the
    element-wise formula fuses)."""
    return onednn_enabled() and all(device.device_type == "CPU" for device in tf.config.list_logical_devices())


def with_fused_batch_norm(model):
    """A clone of `model` whose `keras.layers.BatchNormalization` layers are fused.

    For models the builders did not make, or reloaded from a file. Weights are
    copied; other layers are rebuilt from their config. Under backends other than
    TensorFlow the clone computes exactly what `model` does.
    """
    return _with_batch_norm_class(model, BatchNormalization)


def with_keras_batch_norm(model):
    """A clone of `model` with Keras' own `BatchNormalization` in place of the fused one."""
    return _with_batch_norm_class(model, keras.layers.BatchNormalization)


def _with_batch_norm_class(model, cls):
    def clone_layer(layer):
        if type(layer) in (keras.layers.BatchNormalization, BatchNormalization):
            return cls.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone
