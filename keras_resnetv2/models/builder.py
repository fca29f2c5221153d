"""`ResNet(spec, ...)`: turns a `ResNetSpec` into a Functional `keras.Model`.

The signature and input, head and weights behaviour are keras.applications'
(`keras.applications.ResNet50`...), with these deliberate departures:

* `pooling` must be None, "avg" or "max" (keras silently ignores other values).
* The minimum input size is the net's total stride (32 for the ImageNet stem, as in
  keras; 4 for the 3-stage CIFAR nets) rather than a fixed 32.
* Under a mixed-precision policy the classifier runs in float32, so softmax and the
  loss see float32 logits.
* Every layer has a deterministic name, including the strided identity shortcut
  keras leaves unnamed (`conv2_block3_0_pool`).
* A model built for a zoo tag takes raw pixels: the preprocessing its manifest entry
  records is a `Rescaling` layer named `preprocessing` right after the input, as
  keras.applications' newer models do (`include_preprocessing`). `weights="imagenet"`
  and None add nothing, exactly as keras.applications.

and two additions keras does not have: `features_only=True` (multi-scale feature
maps, `keras_resnetv2.models.features`) and stochastic depth (`spec.drop_path_rate`,
`drop_path_rates`).
"""

import numbers
import sys

import keras
from keras import layers

from keras_resnetv2.models import batchnorm, features
from keras_resnetv2.models.preprocessing import preprocessing_layer
from keras_resnetv2.models.spec import ORDERS, STEMS, ResNetSpec, is_preactivation
from keras_resnetv2.models.units import activate, kernel_initializer, residual_unit
from keras_resnetv2.utils.checks import check_bool, check_choice, fail
from keras_resnetv2.weights import registry

POOLINGS = (None, "avg", "max")


def ResNet(
    spec,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet",
    weights_arch=None,
    include_preprocessing=None,
    features_only=False,
    out_indices=None,
    fused_batchnorm=True,
):
    """Instantiates the residual network described by `spec`.

    Args:
        spec: a `ResNetSpec`.
        include_top: whether to end with global average pooling and the `predictions`
            Dense layer.
        weights: None (random initialization), a path to a weights file, or a name
            from `keras_resnetv2.zoo.available_weights(weights_arch)`: `"imagenet"`, or a zoo tag
            such as `"fashion_mnist"`, whose input shape and classes become the
            defaults (and are required with the top). Without the top, a
            `.weights.h5` file that has one (a zoo entry, a trained model's file)
            loads too: into the full model, whose head is then left out.
        input_tensor: optional Keras tensor (output of `keras.Input()`) to use as
            the image input.
        input_shape: optional `(height, width, channels)` (channels first under the
            "channels_first" data format); defaults to the stem's usual size, or
            `(None, None, 3)` without the top.
        pooling: None (4D features), "avg" or "max": pooling of the features when
            `include_top=False`.
        classes: number of classes of the top; None: the classes of the named
            weights, else `spec.default_classes` (10 for the CIFAR stem, 1000 for
            the ImageNet stem).
        classifier_activation: activation of `predictions`; None returns logits.
            Only None or "softmax" with pretrained weights.
        name: the model's name.
        weights_arch: the architecture name under which named weights are looked up
            (`"resnet50v2"`); None for an anonymous spec, which takes only None or a
            file for `weights`.
        include_preprocessing: whether the model starts with the preprocessing that
            the zoo entry of `weights` records (a `Rescaling` layer named
            `preprocessing`), so that it takes raw 0..255 images. None (default):
            True for a zoo tag, False otherwise: "imagenet" and None build exactly
            keras.applications' model, and a weights file records no preprocessing
            (it is the bare net `train.py` trains on normalized images). False gives
            the bare net for images you preprocess yourself (`preprocess_input`).
        features_only: return a model of the multi-scale feature maps instead, one
            output per stride, by increasing stride (`features.feature_maps(spec)`
            names them; ResNet50V2: `conv1_conv`, `conv2_block2_out`,
            `conv3_block3_out`, `conv4_block5_out`, `post_relu`). It has no top:
            `include_top`, `classes` and `classifier_activation` are not used (as
            keras ignores the last two without the top), and `pooling` must be None.
            Named weights and files load as they do into `include_top=False`.
        out_indices: with `features_only`, the indices of the maps to return (into
            `features.feature_maps(spec)`; e.g. `(1, 2, 3, 4)` for strides 4 to 32 of
            an ImageNet net); None: all.
        fused_batchnorm: BatchNorm layers computed by TensorFlow's fused kernel
            (`keras_resnetv2.models.batchnorm`; the same function, saved as Keras'
            layer; 1.09-1.37x faster training steps than Keras' layer on a 2-core
            CPU, the README's performance table); False: Keras' own layer. Other
            backends run Keras' computation either way.

    Returns:
        A `keras.Model`.
    """
    if not isinstance(spec, ResNetSpec):
        fail("spec", "`spec` must be a `ResNetSpec` (`ResNetSpec.from_dict` builds one from a dict).", spec)
    registry.check_weights_argument(weights, weights_arch)
    check_choice("pooling", pooling, POOLINGS)
    fused = check_bool("fused_batchnorm", fused_batchnorm)
    batch_norm = batchnorm.BatchNormalization if fused else layers.BatchNormalization
    entry = registry.zoo_entry(weights, weights_arch)
    include_preprocessing = _check_preprocessing(include_preprocessing, entry, weights)
    if check_bool("features_only", features_only):
        if pooling is not None:
            fail(
                "pooling",
                "`features_only=True` returns the 4D feature maps; `pooling` must be None "
                "(pool the maps you take, or use include_top=False with `pooling`).",
                pooling,
            )
        maps = features.select_feature_maps(spec, out_indices)
        include_top = False
    elif out_indices is not None:
        fail("out_indices", "`out_indices` picks feature maps; it needs `features_only=True`.", out_indices)
    pretrained = registry.pretrained_input(weights, weights_arch)
    if classes is None:
        classes = spec.default_classes if pretrained is None else pretrained[1]
    if include_top and (not isinstance(classes, numbers.Integral) or isinstance(classes, bool) or classes < 1):
        fail("classes", "`classes` must be a positive integer: the units of the `predictions` layer.", classes)
    if pretrained is not None:
        trained_classes = pretrained[1]
        if include_top and classes != trained_classes:
            fail(
                "classes",
                f"With `weights={weights!r}` and `include_top=True`, `classes` must be "
                f"{trained_classes}, the classes these weights were trained on.",
                classes,
            )
        _check_pretrained_activation(classifier_activation, include_top)
    size = spec.default_input_size
    input_shape = _resolve_input_shape(
        input_shape,
        spec=spec,
        include_top=include_top,
        weights=weights,
        pretrained_shape=None if pretrained is None else pretrained[0] or (size, size, 3),
    )

    if input_tensor is None:
        inputs = layers.Input(shape=input_shape, name="input_layer")
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = layers.Input(tensor=input_tensor, shape=input_shape, name="input_layer")

    _allow_deep_graph(spec)
    x = preprocessing_layer(entry["preprocessing"])(inputs) if include_preprocessing else inputs
    x = _stem(x, spec, batch_norm)
    rates = iter(drop_path_rates(spec))
    for stage, (units, width) in enumerate(zip(spec.stage_units, spec.stage_widths)):
        for unit in range(units):
            x = residual_unit(
                x,
                spec,
                width=width,
                stride=features.unit_stride(spec, stage, unit),
                name=f"conv{stage + 2}_block{unit + 1}",
                drop_path_rate=next(rates),
                batch_norm=batch_norm,
            )
    # Pre-activation nets end with one more activation after the last addition.
    x = activate(x, spec, ORDERS[spec.order].preactivation, name="post", batch_norm=batch_norm)
    x = _head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, x, name=name)

    if entry is not None:
        _check_zoo_spec(spec, entry, model.name)
    weights_path = registry.resolve_weights(weights, weights_arch, include_top=include_top)
    file_classes = None if include_top or weights_path is None else registry.top_classes(model, weights_path)
    if file_classes is not None:
        # A file with its top (a zoo entry, a trained model's weights): load it whole,
        # then drop the head. Only the input's channels matter to the weights.
        full_shape = tuple(d or spec.default_input_size for d in model.inputs[0].shape[1:])
        full = ResNet(spec, input_shape=full_shape, classes=file_classes, classifier_activation=None,
                      fused_batchnorm=fused_batchnorm)
        registry.load_weights(full, weights_path)
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(full.get_layer(layer.name).get_weights())
    elif weights_path is not None:
        registry.load_weights(model, weights_path)
    if features_only:
        return features.features_model(model, maps, name)
    return model


def drop_path_rates(spec):
    """Each unit's stochastic-depth rate, in build order: timm's linear schedule,
    unit i of N gets `spec.drop_path_rate * i / (N - 1)` (0 for the first)."""
    count = sum(spec.stage_units)
    return [spec.drop_path_rate * i / max(count - 1, 1) for i in range(count)]


def _check_preprocessing(include_preprocessing, entry, weights):
    """`include_preprocessing` resolved (None: with a zoo tag), or a ValueError."""
    check_choice("include_preprocessing", include_preprocessing, (None, True, False))
    if include_preprocessing is None:
        return entry is not None
    if include_preprocessing and entry is None:
        fail(
            "include_preprocessing",
            "`include_preprocessing=True` adds the preprocessing a zoo entry records, so "
            "`weights` must be a zoo tag; with None, 'imagenet' or a file, apply "
            f"`preprocess_input` to the images (here weights={weights!r}).",
            include_preprocessing,
        )
    return include_preprocessing


def _check_zoo_spec(spec, entry, model_name):
    """Raises unless the manifest entry records the very architecture being built."""
    recorded = ResNetSpec.from_dict(entry["spec"]).to_dict()
    built = spec.to_dict()
    # Stochastic depth adds weightless layers for training only: zoo weights fine-tune with it.
    differing = {k: (v, built.get(k)) for k, v in recorded.items() if built.get(k) != v and k != "drop_path_rate"}
    if differing:
        fail(
            "weights",
            f"The zoo entry {entry['architecture']}.{entry['tag']} records another "
            f"architecture than {model_name!r}: (manifest, model) differ in {differing}.",
            entry["tag"],
        )


def _allow_deep_graph(spec):
    """Raises Python's recursion limit to what Keras needs for this graph.

    Keras walks a Functional graph recursively (when building, saving and
    reloading it); ResNet-1202 has about 4,000 layers. The limit is only raised,
    never lowered, so a reload later in the process works too.
    """
    needed = 10 * spec.depth + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def total_stride(spec):
    """Downsampling factor from the input to the last feature map."""
    stem = STEMS[spec.stem]
    return stem.stride * (2 if stem.max_pool else 1) * 2 ** (len(spec.stage_units) - 1)


def _stem(x, spec, batch_norm):
    stem = STEMS[spec.stem]
    preactivation = is_preactivation(spec.order)
    # The stem conv is padded explicitly (symmetric), as keras and Torch both do.
    x = layers.ZeroPadding2D(stem.kernel_size // 2, name="conv1_pad")(x)
    x = layers.Conv2D(
        spec.stem_width,
        stem.kernel_size,
        strides=stem.stride,
        use_bias=spec.conv_bias == "always"
        or (spec.conv_bias == "unless_normalized" and preactivation),
        kernel_initializer=kernel_initializer(spec),
        name="conv1_conv",
    )(x)
    # Pre-activation nets leave the stem bare: the first unit's pre-activation
    # follows it, before the split into shortcut and branch (Sec. 4.1).
    if not preactivation:
        x = activate(x, spec, ("bn", "relu"), name="conv1", batch_norm=batch_norm)
    if stem.max_pool:
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return x


def _head(x, *, include_top, pooling, classes, classifier_activation):
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        mixed = keras.config.dtype_policy().name.startswith("mixed")
        return layers.Dense(
            classes,
            activation=classifier_activation,
            dtype="float32" if mixed else None,
            name="predictions",
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _check_pretrained_activation(classifier_activation, include_top):
    if not include_top:
        return
    allowed = {keras.activations.get("softmax"), keras.activations.get(None)}
    if keras.activations.get(classifier_activation) not in allowed:
        fail(
            "classifier_activation",
            "With pretrained weights and `include_top=True`, `classifier_activation` "
            "must be None or 'softmax'.",
            classifier_activation,
        )


def _resolve_input_shape(input_shape, *, spec, include_top, weights, pretrained_shape):
    """keras.applications' `obtain_input_shape` rules, with the net's own sizes.

    `pretrained_shape` (channels last) is the input the named `weights` were trained
    with: the default, the required shape with the top, and the required channels.
    """
    channels_first = keras.config.image_data_format() == "channels_first"
    size = spec.default_input_size
    height, width, channels = pretrained_shape or (size, size, 3)
    default = (channels, height, width) if channels_first else (height, width, channels)
    if input_shape is None:
        if include_top:
            return default
        return (channels, None, None) if channels_first else (None, None, channels)

    input_shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else input_shape
    if (
        not isinstance(input_shape, tuple)
        or len(input_shape) != 3
        or not all(d is None or (isinstance(d, int) and d > 0) for d in input_shape)
    ):
        fail(
            "input_shape",
            "`input_shape` must be a tuple of three positive integers (or None for a "
            "spatial size).",
            input_shape,
        )
    spatial = input_shape[1:] if channels_first else input_shape[:2]
    shape_channels = input_shape[0] if channels_first else input_shape[-1]
    if pretrained_shape is not None:
        if include_top and input_shape != default:
            fail(
                "input_shape",
                f"With `weights={weights!r}` and `include_top=True`, `input_shape` must "
                f"be {default}, the input these weights were trained on.",
                input_shape,
            )
        if shape_channels != channels:
            fail(
                "input_shape",
                f"The {weights!r} weights take {channels}-channel images.",
                input_shape,
            )
    if shape_channels is None:
        fail("input_shape", "The channel dimension of `input_shape` must be known.", input_shape)
    min_size = total_stride(spec)
    if any(d is not None and d < min_size for d in spatial):
        fail(
            "input_shape",
            f"The input must be at least {min_size}x{min_size} for this net (its total stride).",
            input_shape,
        )
    if include_top and None in spatial:
        fail(
            "input_shape",
            "With `include_top=True`, `input_shape` must be static (no None).",
            input_shape,
        )
    return input_shape
