"""Trains a residual network of keras_resnetv2: `python train.py --flags`.

The same command as `python -m keras_resnetv2.train` (or the `keras-resnetv2-train`
console script of an installed package), kept at the top of a checkout; see
`keras_resnetv2/train.py` for the flags, or `python train.py --help`.
"""

from keras_resnetv2.train import run

if __name__ == "__main__":
    run()
