"""Fashion-MNIST from IDX files: Debian's `dataset-fashion-mnist` or a `data_dir`.

The files are verified by the SHA-256 of the *decompressed* IDX bytes (Debian
recompresses the .gz files, so checksums of the compressed upstream files reject them).
"""

import gzip
import hashlib
import os
import zlib

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
# SHA-256 of the decompressed IDX files (identical to upstream zalandoresearch's bytes).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def load_fashion_mnist(data_dir):
    """`((x_train, y_train), (x_test, y_test), checksums)` from the IDX files in `data_dir`
    (default: the Debian package's folder); images `(n, 28, 28, 1)` uint8."""
    data_dir = FASHION_MNIST_DIR if data_dir is None else os.fspath(data_dir)
    arrays, checksums = {}, {}
    for stem, expected in FASHION_MNIST_SHA256.items():
        path = _find_idx_file(data_dir, stem)
        raw = read_idx_bytes(path, expected_sha256=expected)
        arrays[stem] = parse_idx(raw, path)
        checksums[stem] = expected
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST {split}: {len(images)} images but {len(labels)} labels in {data_dir}."
            )
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64)), checksums


def _find_idx_file(data_dir, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    if data_dir == FASHION_MNIST_DIR:
        how = (
            f"Install the Debian package: `sudo apt-get install {FASHION_MNIST_PACKAGE}`, "
            "or pass --data_dir (data_dir=) with the four IDX files (.gz or not), or "
            "`pip install tensorflow-datasets` to download it through TFDS."
        )
    else:
        how = (
            f"Pass --data_dir (data_dir=) a folder with the four IDX files (.gz or not), "
            f"or install them with `sudo apt-get install {FASHION_MNIST_PACKAGE}` and drop "
            "--data_dir."
        )
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}.gz not found in {data_dir}. {how} Received: data_dir={data_dir!r}"
    )


def read_idx_bytes(path, *, expected_sha256):
    """The decompressed bytes of IDX file `path` (gzipped if it ends in .gz), verified.

    Raises:
        ValueError: naming the file and both digests, if the file is truncated,
            corrupted or not gzip, or its decompressed bytes do not hash to
            `expected_sha256`.
    """
    digest = hashlib.sha256()
    chunks = []
    problem = None
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                chunks.append(chunk)
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        problem = f"it is truncated or not a valid gzip file ({e})"
    actual = digest.hexdigest()
    if problem is None and actual != expected_sha256:
        problem = "its content does not match (corrupted, truncated or a different file)"
    if problem is not None:
        size = sum(len(c) for c in chunks)
        raise ValueError(
            f"Checksum error in {path}: {problem}. SHA-256 of the {size} decompressed "
            f"bytes read: {actual}; expected: {expected_sha256}. Reinstall the data "
            f"(`sudo apt-get install --reinstall {FASHION_MNIST_PACKAGE}`) or pass "
            f"--data_dir with intact files. Received: path={path!r}"
        )
    return b"".join(chunks)


def parse_idx(raw, path="<bytes>"):
    """An IDX file's bytes as a uint8 numpy array (only the unsigned-byte type)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header says shape {shape}, but the file has {len(raw) - header} data bytes.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()

