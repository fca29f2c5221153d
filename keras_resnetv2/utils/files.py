"""Files written whole or not at all, and file digests.

Every file is written under a temporary name in the same folder, flushed to disk and
renamed over its destination (`os.replace` is atomic on POSIX), so no file is ever
half-written, whenever the process is killed.
"""

import contextlib
import hashlib
import os


@contextlib.contextmanager
def _replacing(path):
    """Yields a temporary sibling of `path` to write; renames it over `path` on success.

    The temporary name keeps the suffix (Keras checks `.weights.h5`); on an error it
    is removed and `path` is left as it was.
    """
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.urandom(4).hex()}-{name}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, payload):
    """Writes `payload` to `path` through a temporary file in the same folder."""
    with _replacing(path) as tmp, open(tmp, "xb") as f:
        f.write(payload)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_weights(model, path):
    """`model.save_weights(path)` through a temporary file in the same folder."""
    with _replacing(path) as tmp:
        model.save_weights(tmp)


def file_digest(path, algorithm="sha256"):
    """The hex digest of the file at `path`."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
