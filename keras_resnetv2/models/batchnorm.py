"""`batchnorm.BatchNormalization`: Keras' BatchNormalization, training through TF's fused kernel.

Keras 3's `BatchNormalization` under TensorFlow trains with `tf.nn.moments` and
`tf.nn.batch_normalization`, a chain of element-wise and reduction ops (and as many in
the gradient), each a pass over the activations. On a CPU that is a quarter
(ResNet-20V2) to a half (ResNet-164V2) of a training step (`bench/batchnorm_cost.py`).
This subclass computes the same function with one `FusedBatchNormV3` kernel forward and
one backward, as Keras 2 and PyTorch (oneDNN) do. Same variables, names, config and
inference path: a net trained with it loads unchanged into the plain builders
(`train.py` uses it through `--fused_batchnorm`, on by default).

The class keeps Keras' name because Keras 3 keys each layer's variables in a
`.weights.h5` file by the snake-cased class name (`batch_normalization_3/vars`):
under another name a checkpoint of the training model would not load into the plain
model. It is registered as `keras_resnetv2>BatchNormalization`.

The fused path is taken when training under the TensorFlow backend on a float32,
channels-last 4D input, without masks, renorm or synchronized statistics; anything
else goes through Keras' own implementation.
"""

import keras


@keras.saving.register_keras_serializable(package="keras_resnetv2")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step runs TF's fused kernel.

    Numerically it matches Keras' layer to float32 round-off: the outputs use the
    biased batch variance, and so does the moving variance (the kernel returns the
    Bessel-corrected one, which is rescaled by (n - 1) / n before the update).
    """

    def _fusable(self, inputs, training, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and training is True
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.center
            and self.scale
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

        outputs, mean, corrected_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), corrected_variance.dtype)
        variance = corrected_variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def with_fused_batch_norm(model):
    """A clone of `model` whose `keras.layers.BatchNormalization` layers train fused.

    Weights are copied; other layers are rebuilt from their config. Under backends
    other than TensorFlow the clone computes exactly what `model` does.
    """

    def clone_layer(layer):
        cls = BatchNormalization if type(layer) is keras.layers.BatchNormalization else layer.__class__
        return cls.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone
