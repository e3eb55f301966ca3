import gzip

import numpy as np
import pytest

from fastbp import datasets


def _write_idx(path, array, compress):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    path = tmp_path / ("x.gz" if compress else "x")
    _write_idx(path, images, compress)
    np.testing.assert_array_equal(datasets.read_idx(path), images)
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    _write_idx(tmp_path / "v", values, False)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "v"), values)


def test_read_idx_maps_an_uncompressed_file(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(7, 4, 4)).astype(np.uint8)
    _write_idx(tmp_path / "x", images, False)
    mapped = datasets.read_idx(tmp_path / "x", mmap=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, images)
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 3  # big-endian in the file
    _write_idx(tmp_path / "v", values, False)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "v", mmap=True), values)
    _write_idx(tmp_path / "x.gz", images, True)
    with pytest.raises(ValueError, match=r"compressed and cannot be memory-mapped; "
                                         r"decompress it once \(gunzip -k"):
        datasets.read_idx(tmp_path / "x.gz", mmap=True)
    (tmp_path / "short").write_bytes((tmp_path / "x").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header promises"):
        datasets.read_idx(tmp_path / "short", mmap=True)
    (tmp_path / "cut").write_bytes((tmp_path / "x").read_bytes()[:6])
    with pytest.raises(ValueError, match="ends inside its header"):
        datasets.read_idx(tmp_path / "cut", mmap=True)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.read_idx(tmp_path / "bad")
    _write_idx(tmp_path / "short", np.zeros((2, 2), np.uint8), False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header promises"):
        datasets.read_idx(tmp_path / "short")


def test_read_idx_rejects_truncated_and_corrupt_gzip(tmp_path):
    _write_idx(tmp_path / "x.gz", np.zeros((3, 28, 28), np.uint8), True)
    whole = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match="cut.gz is a truncated or corrupt gzip file"):
        datasets.read_idx(tmp_path / "cut.gz")
    (tmp_path / "bad.gz").write_bytes(whole[:10] + bytes(len(whole) - 10))
    with pytest.raises(ValueError, match="bad.gz is a truncated or corrupt gzip file"):
        datasets.read_idx(tmp_path / "bad.gz")


def _write_fashion_mnist(folder, n_train_labels=6, image_shape=(28, 28)):
    rng = np.random.default_rng(1)
    for split, n, n_labels in (("train", 6, n_train_labels), ("t10k", 4, 4)):
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz",
                   rng.integers(0, 256, size=(n, *image_shape)).astype(np.uint8), True)
        _write_idx(folder / f"{split}-labels-idx1-ubyte",
                   rng.integers(0, 10, size=n_labels).astype(np.uint8), False)


@pytest.mark.parametrize("kwargs", [dict(n_train_labels=5), dict(image_shape=(784,))])
def test_load_fashion_mnist_checks_images_against_labels(tmp_path, kwargs):
    _write_fashion_mnist(tmp_path, **kwargs)
    with pytest.raises(ValueError, match="the train files hold images of shape"):
        datasets.load_fashion_mnist(tmp_path)


def test_load_fashion_mnist_from_a_folder(tmp_path):
    _write_fashion_mnist(tmp_path)
    X_train, y_train, X_test, y_test = datasets.load_fashion_mnist(tmp_path)
    assert X_train.shape == (6, 784) and X_test.shape == (4, 784)
    assert X_train.dtype == np.float32 and 0 <= X_train.min() and X_train.max() <= 1
    assert y_train.shape == (6,) and y_test.dtype == np.int64


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist(tmp_path)


def test_real_fashion_mnist_when_installed():
    if datasets.find_fashion_mnist() is None:
        pytest.skip("Fashion-MNIST files not installed")
    X_train, y_train, X_test, y_test = datasets.load_fashion_mnist()
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert np.bincount(y_train).tolist() == [6000] * 10


def test_digits_split(digits):
    X_train, y_train, X_test, y_test = digits
    assert X_train.shape[1] == 64 and len(X_train) + len(X_test) == 1797
    assert X_train.max() <= 1.0 and set(np.unique(y_test)) == set(range(10))
