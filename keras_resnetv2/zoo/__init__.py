"""The model zoo: pretrained weights with provenance, verified on every load.

    import keras_resnetv2
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")   # a zoo tag
    keras_resnetv2.zoo.entries()                                   # the manifest

`zoo/manifest.json` is the single source of truth (`manifest`), to which
`$KERAS_RESNETV2_ZOO_DIR` adds a zoo of your own; the builders' `weights=` argument
resolves through `registry`; `python -m keras_resnetv2.zoo` lists, shows, times,
verifies, evaluates and exports entries.
"""

from keras_resnetv2.weights.manifest import (  # noqa: F401
    ZOO_DIR_VARIABLE, bundled_dir, entries, entry_folder, get_entry, read_manifest, tags_of,
    user_dir, validate_manifest, zoo_dir, zoo_dirs,
)
from keras_resnetv2.weights.registry import (  # noqa: F401
    IMAGENET_BASE_URL, IMAGENET_HASHES, MIRROR_VARIABLE, available_weights, cache_dir,
    check_architecture, check_weights_argument, load_weights, pretrained_input, resolve_weights,
    verify_file, zoo_entry, zoo_file,
)
