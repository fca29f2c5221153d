"""Weights by name: the zoo manifest, the registry that resolves and verifies a file, the loader.

    manifest.py   `zoo/manifest.json`, its schema and the zoo folder
    registry.py   `weights=` -> a verified local file ("imagenet", a zoo tag, a path), and loading it

Used by the builders (`keras_resnetv2.models.builder`); imports Keras and the
utilities only.
"""
