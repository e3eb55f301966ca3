"""The file format of saved networks: one .npz file holding the flat parameters, the
constructor's arguments (the spec) as JSON and, for resuming training, the training state:
the network's random stream and dropout mask stream and, when saved with one, the
optimizer (its class, settings, step and epoch counts as JSON, its state as an array); and
the network's metadata (JSON values of the user's: class names, feature names, how it was
trained). A quantized network (fastbp.quantized) keeps its biases as the parameters and its
int8 weights, weight scales and input scales as arrays of their own, and says so in its
spec. Nothing here executes code from a file; files without a training state (earlier
fastbp versions) still load.

Files are written atomically: into a new hidden temporary file in the same folder, flushed
to the disk, then renamed over the target, so a process killed at any moment of a save leaves
the old file or the new one, never a broken one. A killed save leaves its temporary file
behind; the next save to the same path removes it. A writer holds an exclusive lock
(flock) on its temporary file until the rename, and the operating system drops the lock
when the writer dies, so a save removes exactly the temporary files no writer holds: those
of dead saves, never one still running. (Without flock, on Windows, stale files stay.)
"""

import contextlib
import json
import os
import re
import secrets
import zipfile
from typing import NamedTuple

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# Format 2: a file with named arrays (a quantized network), which a fastbp that reads format 1
# only refuses with "upgrade fastbp" instead of misreading it; other files stay format 1.
FORMAT, FORMAT_WITH_ARRAYS = 1, 2


class Saved(NamedTuple):
    """What a model file holds (write's arguments)."""
    spec: dict
    params: np.ndarray
    training: dict
    optimizer_state: np.ndarray
    metadata: dict
    arrays: dict


def write(path, spec, params, training=None, optimizer_state=None, metadata=None,
          arrays=None):
    """Write spec (a dict of JSON values), the flat parameters and, when given, training and
    metadata (dicts of JSON values), optimizer_state (an array) and arrays (a dict of named
    arrays) to path, atomically."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    _remove_stale_temporaries(folder, name)
    f, temporary = _locked_temporary(folder, name)  # a file object: no ".npz" added
    try:
        contents = {"params": params,
                    "spec": np.array(json.dumps(dict(
                        spec, format=FORMAT_WITH_ARRAYS if arrays else FORMAT)))}
        if training is not None:
            contents["training"] = np.array(json.dumps(training))
        if optimizer_state is not None:
            contents["optimizer_state"] = optimizer_state
        if metadata:
            contents["metadata"] = np.array(json.dumps(metadata))
        for name, array in (arrays or {}).items():
            contents[f"array_{name}"] = array
        np.savez(f, **contents)
        f.flush()
        os.fsync(f.fileno())
        os.replace(temporary, path)  # still locked: no other save removes it first
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        f.close()  # releases the lock
    _sync_folder(folder)


def _temporary_pattern(name):
    """The names of the temporary files of saves to name: hidden, the writer's process id
    and a random token (a thread id in earlier fastbp versions)."""
    return re.compile(re.escape(f".{name}.") + r"\d+\.[0-9a-f]+\.tmp")


def _locked_temporary(folder, name):
    """(file object, path) of a new temporary file for a save of name, created and locked by
    this writer."""
    while True:
        temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        f = open(temporary, "xb")
        if fcntl is None:
            return f, temporary
        # Between the creation and the lock, a save removing stale files may take this one
        # for a dead writer's and unlink it: then the path names no file, or another one.
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            ours = os.stat(temporary).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            ours = False
        if ours:
            return f, temporary
        f.close()


def _remove_stale_temporaries(folder, name):
    """Remove the temporary files of saves to name whose writer is gone (killed mid-save):
    those no process holds the lock of."""
    if fcntl is None:
        return
    pattern = _temporary_pattern(name)
    with os.scandir(folder) as entries:
        candidates = [entry.path for entry in entries if pattern.fullmatch(entry.name)]
    for candidate in candidates:
        try:
            f = open(candidate, "rb")
        except OSError:  # removed meanwhile (renamed by its writer, or by another save)
            continue
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a save still running holds it
                continue
            try:
                os.unlink(candidate)
            except FileNotFoundError:
                pass


def _sync_folder(folder):
    """Flush the folder's entries, so that the rename itself survives a power loss."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _what_it_is(path, error):
    """What the file at path seems to be, for an error saying it is not a model file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return f"{type(error).__name__}: {error}"
    if head.startswith(b"\x93NUMPY"):
        return "it holds one NumPy array (.npy)"
    if head.startswith(b"PK"):
        if isinstance(error, KeyError):
            return "it is an .npz or zip archive without a model's arrays"
        if "allow_pickle" in str(error):
            return "it holds pickled Python objects, which a model file never holds (and " \
                   "fastbp never loads: they could run code)"
        return f"it is a zip archive that NumPy cannot read ({error})"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it is not an .npz file (it starts with bytes {head[:8]!r})"
    first = text.splitlines()[0][:60] if text else ""
    return f"it is a text file{' (a table?)' if ',' in first or ';' in first else ''}, " \
           f"starting {first!r}" if text else "it is empty"


def read(path):
    """What write wrote, as a Saved: the spec without its format number, the parameters,
    the training dict or None, the optimizer state or None, the metadata dict and the dict
    of named arrays. A file that is not one (truncated, corrupted, another program's, a newer
    format) raises ValueError naming the file and the problem."""
    try:
        with np.load(path, allow_pickle=False) as data:
            spec = json.loads(str(data["spec"]))
            params = data["params"]
            training = json.loads(str(data["training"])) if "training" in data else None
            state = data["optimizer_state"] if "optimizer_state" in data else None
            metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
            arrays = {name[len("array_"):]: data[name] for name in data.files
                      if name.startswith("array_")}
    except FileNotFoundError:
        raise
    # (TypeError: an .npy file loads as one array, which is no archive to open with "with")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, TypeError) as error:
        raise ValueError(f"{path} is not a fastbp model file (an .npz file that "
                         f"Network.save or fastbp train --save writes): "
                         f"{_what_it_is(path, error)}") from None
    written = spec.pop("format", None) if isinstance(spec, dict) else None
    if written not in (FORMAT, FORMAT_WITH_ARRAYS):
        newer = isinstance(written, int) and written > FORMAT_WITH_ARRAYS
        raise ValueError(f"{path} was written in format {written!r}, "
                         + ("by a newer fastbp: upgrade fastbp to read it" if newer
                            else f"which this fastbp does not read (it reads formats "
                                 f"{FORMAT} and {FORMAT_WITH_ARRAYS})"))
    return Saved(spec, params, training, state, metadata, arrays)
