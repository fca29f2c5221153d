"""The model core: a network is data (`ResNetSpec`), one function builds it (`ResNet`).

    spec.py            `ResNetSpec`: every convention of a net as a validated field
    units.py           the residual unit, all orders and shortcuts of the paper
    builder.py         `ResNet(spec, ...)`: keras.applications' signature over a spec
    features.py        where a net downsamples; its multi-scale maps (`features_only`)
    variants.py        the named nets (ResNet50V2, ResNet164V2...) as a table of specs
    preprocessing.py   `preprocess_input` / `decode_predictions` per family
    flops.py           FLOP counts of a built model (2 per multiply-accumulate)
    batchnorm.py       Keras' BatchNormalization through TF's fused kernel, saved as Keras' layer

Imports Keras, the dataset catalog, the weights registry and the utilities only:
never TensorFlow at import, nor data, training, tuning, zoo tools or paper.
"""
