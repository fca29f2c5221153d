"""The residual unit of arXiv:1603.05027, written once for every variant.

    y = h(x) + F(x),    x_next = f(y)            (Eq. 1-2 of the paper)

`residual_unit` reads the block, activation order and shortcut from a `ResNetSpec`;
the unit's layers carry keras.applications names (`conv{s}_block{i}_{j}_conv`...),
extended the same way for what keras has no name for (`_0_pool`, `_gate`...).

Rules taken from the paper and its official code (`resnet-pre-act.lua`):

* A unit that changes the channel count projects its shortcut (`spec.projection`) and
  keeps a plain addition; the shortcut variants of Fig. 2 replace the shortcut of the
  other units. With a pre-activation order the projection reads the same activated
  tensor as the branch ("common BN, ReLU"); identity and subsampling read the raw x.
* The projection is followed by BN exactly when the branch's last conv is.
* The gate g(x) = sigmoid(conv1x1(x) + b_g) reads the unit's input x.
* Stochastic depth (`drop_path_rate`) drops the branch as it enters the addition,
  after any scaling or gating of it: a dropped unit computes y = h(x), x_next = f(h(x)),
  in every order and with every shortcut (Huang et al.'s unit with F removed).
"""

import keras
from keras import layers

from keras_resnetv2.models.batchnorm import BatchNormalization
from keras_resnetv2.models.spec import BLOCKS, GATING_SHORTCUTS, ORDERS


def channel_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def kernel_initializer(spec):
    if spec.kernel_initializer == "he_normal_fan_out":
        # Official code: normal(0, sqrt(2 / (k * k * filters))).
        return keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        )
    return spec.kernel_initializer


def conv(x, spec, filters, kernel_size, *, strides=1, normalized, name, zero_init=False):
    """Conv2D named `{name}_conv`, padded by a `{name}_pad` layer as `spec.explicit_padding` says.

    `normalized` says whether BN follows directly, which decides the bias under
    `conv_bias="unless_normalized"`.
    """
    use_bias = spec.conv_bias == "always" or (
        spec.conv_bias == "unless_normalized" and not normalized
    )
    padding = "same"
    if kernel_size > 1 and (
        spec.explicit_padding == "all" or (spec.explicit_padding == "strided" and strides > 1)
    ):
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer="zeros" if zero_init else kernel_initializer(spec),
        name=f"{name}_conv",
    )(x)


def activate(x, spec, ops, *, name, last_name=None, zero_init=False, batch_norm=BatchNormalization):
    """Applies `ops` ("bn", "relu") named `{name}_bn`, `{name}_relu`.

    Args:
        last_name: name of the last op instead (a unit's final layer is `_out`).
        zero_init: initialize the BN's gamma at zero.
        batch_norm: the BatchNormalization class: the fused one (`models.batchnorm`)
            or `keras.layers.BatchNormalization`.
    """
    for i, op in enumerate(ops):
        op_name = last_name if (last_name and i == len(ops) - 1) else f"{name}_{op}"
        if op == "bn":
            x = batch_norm(
                axis=channel_axis(),
                epsilon=spec.bn_epsilon,
                momentum=spec.bn_momentum,
                gamma_initializer="zeros" if zero_init else "ones",
                name=op_name,
            )(x)
        else:
            x = layers.Activation("relu", name=op_name)(x)
    return x


def residual_unit(x, spec, *, width, stride, name, drop_path_rate=0.0, batch_norm=BatchNormalization):
    """One residual unit of `spec`.

    Args:
        x: input tensor.
        spec: the `ResNetSpec`.
        width: branch width (the bottleneck's 1x1/3x3 filters).
        stride: 1 or 2.
        name: prefix of the unit's layer names, e.g. `"conv3_block1"`.
        drop_path_rate: probability that an example skips the branch in training
            (stochastic depth); at 0 no layer is added.
        batch_norm: the BatchNormalization class (see `activate`).

    Returns:
        The unit's output tensor, named `{name}_out`.
    """
    order = ORDERS[spec.order]
    kernel_sizes, expansion = BLOCKS[spec.block]
    channels_in = x.shape[channel_axis()]
    channels_out = width * expansion
    branch_has_bn = "bn" in order.branch_end

    activated = activate(x, spec, order.preactivation, name=f"{name}_preact", batch_norm=batch_norm)
    project = channels_in != channels_out or spec.shortcut == "conv1x1"
    if project:
        shortcut = _projection(
            activated, spec, channels_out, stride, name, with_bn=branch_has_bn, batch_norm=batch_norm
        )
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x

    stride_index = 0 if spec.stride_conv == "first" else kernel_sizes.index(3)
    last = len(kernel_sizes) - 1
    branch = activated
    for j, kernel_size in enumerate(kernel_sizes):
        is_last = j == last
        ops = order.branch_end if is_last else ("bn", "relu")
        branch = conv(
            branch,
            spec,
            channels_out if is_last else width,
            kernel_size,
            strides=stride if j == stride_index else 1,
            normalized=bool(ops) and ops[0] == "bn",
            name=f"{name}_{j + 1}",
            zero_init=spec.zero_init_last and is_last and not branch_has_bn,
        )
        branch = activate(
            branch,
            spec,
            ops,
            name=f"{name}_{j + 1}",
            zero_init=spec.zero_init_last and is_last,
            batch_norm=batch_norm,
        )

    if not project:
        shortcut, branch = _apply_shortcut_variant(x, shortcut, branch, spec, stride, name)
    if drop_path_rate:
        # One mask value per example: the whole branch is kept (scaled by 1/keep) or not.
        branch = layers.Dropout(drop_path_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop_path")(branch)
        # Keras orders a model's layers by their distance to the output, and weights
        # files follow that order (`.weights.h5`, legacy `.h5`, `get_weights`): a
        # weightless layer on the shortcut too keeps every other layer in place, so
        # weights load across rates.
        shortcut = layers.Identity(name=f"{name}_0_identity")(shortcut)
    add_name = f"{name}_add" if order.after_addition else f"{name}_out"
    y = layers.Add(name=add_name)([shortcut, branch])
    return activate(
        y, spec, order.after_addition, name=f"{name}_add", last_name=f"{name}_out", batch_norm=batch_norm
    )


def _projection(x, spec, channels_out, stride, name, *, with_bn, batch_norm):
    if spec.projection == "conv" or spec.shortcut == "conv1x1":
        shortcut = conv(x, spec, channels_out, 1, strides=stride, normalized=with_bn, name=f"{name}_0")
        return activate(shortcut, spec, ("bn",) if with_bn else (), name=f"{name}_0", batch_norm=batch_norm)
    # Option A: subsample, then append zero channels (fb.resnet.torch concatenates
    # x with x * 0, so the count must grow by a whole multiple).
    if stride > 1:
        x = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    copies = channels_out // x.shape[channel_axis()]
    zeros = layers.Rescaling(0.0, name=f"{name}_0_zeros")(x)
    return layers.Concatenate(axis=channel_axis(), name=f"{name}_0_pad")([x] + [zeros] * (copies - 1))


def _apply_shortcut_variant(x, shortcut, branch, spec, stride, name):
    """Fig. 2 of the paper: returns the (shortcut, branch) pair to add.

    In a strided unit that keeps its channels (keras' v2 layout), the gate is strided
    like the subsampled shortcut it scales.
    """
    if spec.shortcut == "constant_scaling":
        shortcut = layers.Rescaling(spec.shortcut_scale, name=f"{name}_0_scale")(shortcut)
        if spec.scale_branch:
            branch = layers.Rescaling(1.0 - spec.shortcut_scale, name=f"{name}_branch_scale")(branch)
    elif spec.shortcut in GATING_SHORTCUTS:
        gate = layers.Conv2D(
            shortcut.shape[channel_axis()],
            1,
            strides=stride,
            activation="sigmoid",
            kernel_initializer=kernel_initializer(spec),
            bias_initializer=keras.initializers.Constant(spec.gate_bias),
            name=f"{name}_gate",
        )(x)
        complement = layers.Rescaling(-1.0, offset=1.0, name=f"{name}_gate_complement")(gate)
        shortcut = layers.Multiply(name=f"{name}_0_gate")([complement, shortcut])
        if spec.shortcut == "exclusive_gating":
            branch = layers.Multiply(name=f"{name}_branch_gate")([gate, branch])
    elif spec.shortcut == "dropout":
        shortcut = layers.Dropout(spec.dropout_rate, name=f"{name}_0_dropout")(shortcut)
    return shortcut, branch
