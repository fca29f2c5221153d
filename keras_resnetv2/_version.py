"""The package version, in one place (setup.py and `keras_resnetv2.__version__` read it)."""

__version__ = "0.1.0"
