"""Real datasets that need no download: scikit-learn's digits and Fashion-MNIST IDX files."""

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, mmap=False):
    """Read an IDX file (MNIST format) into an ndarray.

    Parameters
    ----------
    path : str or Path
        The file, optionally gzip-compressed (``.gz``).
    mmap : bool, default False
        Return a read-only ``np.memmap`` of the file's values instead of reading them into
        memory: pages are read from disk as training touches them, and a fit over uint8
        images converts each batch as it reads it (no float copy). Needs an uncompressed
        file (``gunzip -k file.gz`` makes one).
    """
    path = Path(path)
    if mmap and path.suffix == ".gz":
        raise ValueError(f"{path} is compressed and cannot be memory-mapped; decompress it "
                         f"once (gunzip -k {path}) and map the uncompressed file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4)
            if len(header) == 4:
                header += f.read(4 * header[3])  # the magic number's last byte: ndim
            values = None if mmap else f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is a truncated or corrupt gzip file ({error}); download or "
                         f"install it again") from None
    if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = header[3]
    offset = 4 + 4 * ndim
    if len(header) < offset:
        raise ValueError(f"{path} ends inside its header")
    shape = tuple(int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[header[2]])
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size if mmap else len(header) + len(values)
    if size != expected:
        raise ValueError(f"{path} holds {size} bytes, its header promises {expected}")
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    return np.frombuffer(values, dtype=dtype).reshape(shape)


def find_fashion_mnist(data_dir=None):
    """The folder holding the Fashion-MNIST IDX files, or None if there is none."""
    candidates = [data_dir] if data_dir else [os.environ.get("FASHION_MNIST_DIR"),
                                              *FASHION_MNIST_DIRS]
    for folder in filter(None, candidates):
        if Path(folder, "train-images-idx3-ubyte.gz").exists() or \
                Path(folder, "train-images-idx3-ubyte").exists():
            return Path(folder)
    return None


def _idx_file(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder} lacks {stem}(.gz)")


def load_fashion_mnist(data_dir=None):
    """Fashion-MNIST as float32 pixels in [0, 1], flattened to 784 features.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``. By default
        ``$FASHION_MNIST_DIR`` or the Debian package's ``/usr/share/datasets/fashion-mnist``.

    Returns
    -------
    X_train (60000, 784), y_train (60000,), X_test (10000, 784), y_test (10000,)
    """
    folder = find_fashion_mnist(data_dir)
    if folder is None:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {data_dir or FASHION_MNIST_DIRS[0]}; install "
            f"them with 'apt-get install dataset-fashion-mnist' or pass data_dir")
    arrays = []
    for split in ("train", "t10k"):
        images = read_idx(_idx_file(folder, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_idx_file(folder, f"{split}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{folder}: the {split} files hold images of shape "
                             f"{images.shape} and labels of shape {labels.shape}; expected "
                             f"(n, rows, columns) images and (n,) labels of the same n")
        arrays += [images.reshape(len(images), -1).astype(np.float32) / 255.0,
                   labels.astype(np.int64)]
    return tuple(arrays)


def load_digits(test_size=0.25, seed=0):
    """scikit-learn's bundled UCI digits (1,797 8x8 images), pixels scaled to [0, 1].

    Returns
    -------
    X_train, y_train, X_test, y_test : a stratified split, float32 features, int64 labels
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits dataset comes with scikit-learn: "
                          "pip install scikit-learn") from None
    X, y = sklearn_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        (X / 16.0).astype(np.float32), y.astype(np.int64), test_size=test_size,
        random_state=seed, stratify=y)
    return X_train, y_train, X_test, y_test
