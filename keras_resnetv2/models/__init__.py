"""The model core: a network is data (`ResNetSpec`), one function builds it (`ResNet`).

    spec.py            `ResNetSpec`: every convention of a net as a validated field
    units.py           the residual unit, all orders and shortcuts of the paper
    builder.py         `ResNet(spec, ...)`: keras.applications' signature over a spec
    features.py        where a net downsamples; its multi-scale maps (`features_only`)
    variants.py        the named nets (ResNet50V2, ResNet164V2...) as a table of specs
    preprocessing.py   `preprocess_input` / `decode_predictions` per family
    flops.py           multiply-accumulate counts of a built model
    batchnorm.py       Keras' BatchNormalization training through TF's fused kernel

Imports Keras, the dataset catalog, the weights registry and the utilities only:
never TensorFlow at import, nor data, training, tuning, zoo tools or paper.
"""
