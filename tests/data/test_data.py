"""keras_resnetv2.data: offline Fashion-MNIST with checksums, metadata, pipelines."""

import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
import re

import numpy as np
import pytest

from keras_resnetv2 import data


# ---------------------------------------------------------------------------
# Names and metadata.


def test_dataset_names_and_metadata():
    assert set(data.list_datasets()) == {"fashion_mnist", "cifar10", "cifar100", "imagenet2012", "folder"}
    info = data.get_info("fashion_mnist")
    assert info.num_classes == 10 and len(info.label_names) == 10
    assert info.label_names[0] == "T-shirt/top" and info.label_names[9] == "Ankle boot"
    assert info.input_shape == (28, 28, 1)
    assert info.flip and info.pad == 4
    assert len(data.get_info("cifar100").label_names) == 100


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError) as e:
        data.get_info("fashion-mnist")
    message = str(e.value)
    assert "`dataset` must be one of" in message and "'cifar10'" in message
    assert "Did you mean 'fashion_mnist'?" in message
    assert message.endswith("Received: dataset='fashion-mnist'")


@pytest.mark.skipif(importlib.util.find_spec("tensorflow_datasets") is not None, reason="TFDS is installed")
def test_tfds_dataset_without_tfds_says_what_to_install():
    with pytest.raises(ImportError, match=r"pip install tensorflow-datasets.*Received: dataset='cifar10'"):
        data.load("cifar10")


def test_streaming_dataset_refuses_memory_load():
    with pytest.raises(ValueError, match=r"stream_imagenet.*Received: dataset='imagenet2012'"):
        data.load("imagenet2012")


# ---------------------------------------------------------------------------
# Fashion-MNIST from the Debian package.


def test_fashion_mnist_loads_verified(tiny_fashion_mnist):
    ds = tiny_fashion_mnist
    x_train, y_train = ds.train
    x_val, y_val = ds.validation
    x_test, y_test = ds.test
    assert x_train.shape == (54000, 28, 28, 1) and x_val.shape == (6000, 28, 28, 1)
    assert x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    np.testing.assert_array_equal(np.bincount(np.concatenate([y_train, y_val])), [6000] * 10)
    assert ds.checksums == data.FASHION_MNIST_SHA256
    # Statistics of the images trained on (the well-known 0.2860 / 0.3530 for all 60k).
    assert ds.mean[0] == pytest.approx(0.2860, abs=2e-3)
    assert ds.std[0] == pytest.approx(0.3530, abs=2e-3)
    np.testing.assert_allclose(ds.mean, np.mean(x_train / 255.0), rtol=1e-6)


def test_validation_split_and_subset_are_fixed_and_disjoint(tiny_fashion_mnist, fashion_mnist_dir):
    subset = data.load("fashion_mnist", validation_split=0.1, train_subset=300)
    x_val, _ = tiny_fashion_mnist.validation
    np.testing.assert_array_equal(subset.validation[0], x_val)  # same held-out set
    assert subset.train[0].shape == (300, 28, 28, 1)
    train_keys = {img.tobytes() for img in subset.train[0]}
    assert not train_keys & {img.tobytes() for img in x_val[:2000]}
    assert subset.mean == data.channel_stats(subset.train[0])[0]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(validation_split=1.0), r"`validation_split` must be a number in \[0, 1\)\. Received: validation_split=1\.0"),
        (dict(validation_split=-0.1), r"Received: validation_split=-0\.1"),
        (dict(train_subset=0), r"`train_subset` must be an integer >= 1 or None\. Received: train_subset=0"),
        (dict(train_subset=70000), r"at most the 60000 training images\. Received: train_subset=70000"),
    ],
)
def test_bad_split_arguments(fashion_mnist_dir, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load("fashion_mnist", **kwargs)


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as e:
        data.load("fashion_mnist", data_dir=str(tmp_path))
    message = str(e.value)
    assert "train-images-idx3-ubyte.gz not found" in message
    assert "--data_dir" in message and "apt-get install dataset-fashion-mnist" in message
    assert message.endswith(f"Received: data_dir={str(tmp_path)!r}")

    monkeypatch.setattr(data.idx, "FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"Install the Debian package: `sudo apt-get install dataset-fashion-mnist`"):
        data.load("fashion_mnist")


def _idx_bytes(folder, stem):
    with gzip.open(os.path.join(folder, stem + ".gz"), "rb") as f:
        return f.read()


def _replace(folder, name, payload):
    path = folder / name
    path.unlink()
    path.write_bytes(payload)
    return path


def test_corrupted_file_names_file_and_both_hashes(fashion_mnist_copy):
    stem = "t10k-labels-idx1-ubyte"
    raw = bytearray(_idx_bytes(fashion_mnist_copy, stem))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    path = _replace(fashion_mnist_copy, stem + ".gz", gzip.compress(bytes(raw)))
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist", data_dir=str(fashion_mnist_copy))
    message = str(e.value)
    assert f"Checksum error in {path}" in message
    assert hashlib.sha256(bytes(raw)).hexdigest() in message
    assert data.FASHION_MNIST_SHA256[stem] in message
    assert "does not match" in message and message.endswith(f"Received: path={str(path)!r}")


def test_truncated_content_names_file_and_both_hashes(fashion_mnist_copy):
    stem = "t10k-labels-idx1-ubyte"
    raw = _idx_bytes(fashion_mnist_copy, stem)[:5000]
    path = _replace(fashion_mnist_copy, stem + ".gz", gzip.compress(raw))
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist", data_dir=str(fashion_mnist_copy))
    message = str(e.value)
    assert str(path) in message and "5000 decompressed bytes" in message
    assert hashlib.sha256(raw).hexdigest() in message and data.FASHION_MNIST_SHA256[stem] in message


def test_truncated_gzip_file_names_file_and_hashes(fashion_mnist_copy):
    stem = "train-labels-idx1-ubyte"
    compressed = (fashion_mnist_copy / (stem + ".gz")).read_bytes()
    path = _replace(fashion_mnist_copy, stem + ".gz", compressed[: len(compressed) // 2])
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist", data_dir=str(fashion_mnist_copy))
    message = str(e.value)
    assert f"Checksum error in {path}: it is truncated or not a valid gzip file" in message
    assert data.FASHION_MNIST_SHA256[stem] in message
    assert re.search(r"SHA-256 of the \d+ decompressed bytes read: [0-9a-f]{64}; expected", message)


def test_uncompressed_idx_files_are_accepted(fashion_mnist_copy):
    stem = "t10k-labels-idx1-ubyte"
    raw = _idx_bytes(fashion_mnist_copy, stem)
    (fashion_mnist_copy / (stem + ".gz")).unlink()
    (fashion_mnist_copy / stem).write_bytes(raw)
    labels = data.parse_idx(data.read_idx_bytes(str(fashion_mnist_copy / stem), expected_sha256=data.FASHION_MNIST_SHA256[stem]))
    assert labels.shape == (10000,) and labels.max() == 9


def test_parse_idx_rejects_bad_headers():
    with pytest.raises(ValueError, match="bad magic number"):
        data.parse_idx(b"\x00\x00\x0d\x01" + bytes(8))
    with pytest.raises(ValueError, match=r"shape \(5,\), but the file has 3 data bytes"):
        data.parse_idx(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(3))


# ---------------------------------------------------------------------------
# A folder of class subfolders of images.


def _write_images(folder, counts, *, size=(6, 5), mode="RGB", start=0):
    """`counts[class]` PNGs per class; image k's pixels all equal `start + k`."""
    from PIL import Image

    k = start
    for name, count in counts.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new(mode, size, k if mode == "L" else (k, k, k)).save(folder / name / f"{i:03d}.png")
            k += 1
    return k


def test_folder_of_class_subfolders_holds_out_a_fixed_test_split(tmp_path):
    _write_images(tmp_path, {"cat": 6, "dog": 4})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "dog" / ".hidden.png").write_bytes(b"")
    ds = data.load("folder", data_dir=tmp_path)
    assert ds.info.name == "folder" and ds.info.label_names == ("cat", "dog") and ds.info.num_classes == 2
    assert ds.info.input_shape == (5, 6, 3)  # height, width, channels
    (x_train, y_train), (x_test, y_test) = ds.train, ds.test
    assert x_train.shape == (8, 5, 6, 3) and x_test.shape == (2, 5, 6, 3) and x_train.dtype == np.uint8
    assert y_train.dtype == np.int64
    # Every image exactly once, with its class's label (images 0-5 are cats).
    values = np.concatenate([x_train[:, 0, 0, 0], x_test[:, 0, 0, 0]])
    labels = np.concatenate([y_train, y_test])
    assert sorted(values) == list(range(10))
    np.testing.assert_array_equal(labels, (values >= 6).astype(np.int64))
    again = data.load("folder", data_dir=tmp_path)
    np.testing.assert_array_equal(again.test[0], x_test)  # a fixed split
    assert ds.checksums == again.checksums and len(ds.checksums["folder"]) == 64
    assert ds.mean[0] == pytest.approx(np.mean(x_train) / 255.0)


def test_folder_with_train_and_test_subfolders(tmp_path):
    end = _write_images(tmp_path / "train", {"a": 3, "b": 2}, mode="L")
    _write_images(tmp_path / "test", {"a": 1, "b": 1}, mode="L", start=end)
    ds = data.load("folder", data_dir=tmp_path, validation_split=0.2)
    assert ds.info.input_shape == (5, 6, 1)  # grayscale stays one channel
    assert len(ds.train[0]) == 4 and len(ds.validation[0]) == 1
    np.testing.assert_array_equal(ds.test[0][:, 0, 0, 0], [5, 6])
    np.testing.assert_array_equal(ds.test[1], [0, 1])


def test_folder_mixes_grayscale_and_color_as_rgb(tmp_path):
    _write_images(tmp_path, {"a": 3}, mode="L")
    _write_images(tmp_path, {"b": 2}, mode="RGBA", start=3)
    ds = data.load("folder", data_dir=tmp_path)
    assert ds.info.input_shape == (5, 6, 3)


def test_folder_errors_name_the_problem(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=rf"does not exist.*Received: data_dir={re.escape(repr(missing))}$"):
        data.load("folder", data_dir=missing)
    with pytest.raises(ValueError, match=r"reads `data_dir` \(--data_dir\).*Received: data_dir=None$"):
        data.load("folder")
    with pytest.raises(ValueError, match=r"has no class subfolders"):
        data.load("folder", data_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    _write_images(tmp_path, {"full": 4})
    with pytest.raises(ValueError, match=r"class folder .*empty has no images \(files ending in \.bmp"):
        data.load("folder", data_dir=tmp_path)
    (tmp_path / "empty").rmdir()
    _write_images(tmp_path, {"big": 1}, size=(7, 5))
    with pytest.raises(ValueError) as e:
        data.load("folder", data_dir=tmp_path)
    assert "All images must have the same size (they are not resized)" in str(e.value)
    assert "4 of the 5 are 6x5 (width x height, e.g. " in str(e.value) and "big/000.png is 7x5;" in str(e.value)
    assert str(e.value).endswith(f"Received: data_dir={str(tmp_path)!r}")
    (tmp_path / "big" / "000.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"big/000.png is not a readable image"):
        data.load("folder", data_dir=tmp_path)


def test_folder_split_layout_errors(tmp_path):
    _write_images(tmp_path / "train", {"a": 2, "b": 2})
    with pytest.raises(FileNotFoundError, match=r"has a train/ folder but no test/ folder"):
        data.load("folder", data_dir=tmp_path)
    _write_images(tmp_path / "test", {"a": 1, "c": 1})
    with pytest.raises(ValueError, match=r"only in train/: \['b'\], only in test/: \['c'\]"):
        data.load("folder", data_dir=tmp_path)


def test_folder_metadata_comes_from_the_files():
    with pytest.raises(ValueError, match=r"come from its files.*Received: dataset='folder'"):
        data.get_info("folder")


# ---------------------------------------------------------------------------
# Pipelines, on synthetic images whose pixels encode their index.


def _indexed_images(n=40, size=8):
    images = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        images[i] = i + 1
    return images, np.arange(n, dtype=np.int64)


def _batches(ds, count):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(count)]


def test_train_pipeline_shapes_normalization_and_epochs():
    images, labels = _indexed_images()
    mean, std = data.channel_stats(images)
    ds = data.train_pipeline(images, labels, batch_size=8, mean=mean, std=std, seed=3, augment=False)
    batches = _batches(ds, 10)  # two epochs of 5 full batches
    x, y = batches[0]
    assert x.shape == (8, 8, 8, 1) and x.dtype == np.float32 and y.dtype == np.int64
    epoch1 = np.concatenate([b[1] for b in batches[:5]])
    epoch2 = np.concatenate([b[1] for b in batches[5:]])
    assert sorted(epoch1) == list(range(40)) and sorted(epoch2) == list(range(40))
    assert not np.array_equal(epoch1, epoch2)  # reshuffled every epoch
    # Each image is normalized with the per-channel statistics.
    all_x = np.concatenate([b[0] for b in batches[:5]])
    assert all_x.mean() == pytest.approx(0.0, abs=1e-5) and all_x.std() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(x[:, 0, 0, 0], ((y + 1) / 255.0 - mean[0]) / std[0], rtol=1e-5)


def test_train_pipeline_drops_the_partial_batch():
    images, labels = _indexed_images(n=42)
    ds = data.train_pipeline(images, labels, batch_size=8, mean=(0.5,), std=(0.5,), seed=0, augment=False)
    labels_epoch = np.concatenate([b[1] for b in _batches(ds, 5)])
    assert len(set(labels_epoch)) == 40
    assert data.steps_per_epoch(42, 8) == 5
    with pytest.raises(ValueError, match=r"at most the 42 training images\. Received: batch_size=64"):
        data.steps_per_epoch(42, 64)


def test_train_pipeline_is_deterministic_and_resumable():
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(40)
    kwargs = dict(batch_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)
    first = _batches(data.train_pipeline(images, labels, seed=7, **kwargs), 10)
    again = _batches(data.train_pipeline(images, labels, seed=7, **kwargs), 10)
    other = _batches(data.train_pipeline(images, labels, seed=8, **kwargs), 10)
    resumed = _batches(data.train_pipeline(images, labels, seed=7, start_epoch=1, **kwargs), 5)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][0], other[0][0])
    # Epoch 2 of an uninterrupted stream is epoch 2 of a stream resumed there.
    for (xa, ya), (xb, yb) in zip(first[5:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_augmentation_is_pad_crop_and_flip():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (64, 8, 8, 1), dtype=np.uint8)  # no zero pixels
    labels = np.arange(64)
    kwargs = dict(batch_size=64, mean=(0.0,), std=(1 / 255,), seed=1)
    plain = _batches(data.train_pipeline(images, labels, augment=False, **kwargs), 1)[0]
    flip_only = _batches(data.train_pipeline(images, labels, pad=0, flip=True, **kwargs), 1)[0]
    crop = _batches(data.train_pipeline(images, labels, pad=4, flip=False, **kwargs), 1)[0]
    np.testing.assert_array_equal(plain[1], flip_only[1])  # augmentation keeps the order
    flipped = [np.array_equal(a, b[:, ::-1]) for a, b in zip(flip_only[0], plain[0])]
    unchanged = [np.array_equal(a, b) for a, b in zip(flip_only[0], plain[0])]
    assert all(f or u for f, u in zip(flipped, unchanged)) and 10 < sum(flipped) < 54
    # A crop of the zero-padded image: a shifted copy with zeros where it left the image.
    shifted = 0
    for out, src in zip(crop[0][..., 0], plain[0][..., 0]):
        rows, cols = np.nonzero(out)
        r0, c0 = rows.min(), cols.min()
        h, w = rows.max() - r0 + 1, cols.max() - c0 + 1
        window = out[r0 : r0 + h, c0 : c0 + w]
        sr = 0 if r0 else 8 - h
        sc = 0 if c0 else 8 - w
        np.testing.assert_allclose(window, src[sr : sr + h, sc : sc + w], atol=1e-3)
        shifted += (h, w) != (8, 8)
    assert shifted > 32


def test_eval_pipeline_keeps_order_and_last_batch():
    images, labels = _indexed_images(n=21)
    batches = _batches(data.eval_pipeline(images, labels, batch_size=8, mean=(0.5,), std=(0.5,)), 10)
    assert [len(y) for _, y in batches] == [8, 8, 5]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)


def test_fashion_mnist_falls_back_to_tfds_without_the_debian_package(tmp_path, monkeypatch):
    """Where the Debian folder is missing and tensorflow-datasets is installed."""
    import sys
    import types

    calls = []

    class Builder:
        info = types.SimpleNamespace(version="3.0.1")

        def download_and_prepare(self):
            calls.append("download")

        def as_dataset(self, split, batch_size, as_supervised):
            return [(np.zeros((4, 28, 28, 1), np.uint8), np.arange(4)), (np.ones((2, 28, 28, 1), np.uint8), np.arange(2))]

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: calls.append(name) or Builder()
    fake.as_numpy = lambda tree: tree
    fake.__spec__ = importlib.machinery.ModuleSpec("tensorflow_datasets", None)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setattr(data.idx, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    loaded = data.load("fashion_mnist")
    assert calls == ["fashion_mnist", "download"]
    assert loaded.train[0].shape == (4, 28, 28, 1) and loaded.test[0].shape == (2, 28, 28, 1)
    assert loaded.checksums == {"tfds:fashion_mnist": "3.0.1"}
