"""The file format of saved networks: one .npz file holding the flat parameters, the
constructor's arguments (the spec) as JSON and, for resuming training, the training state:
the network's random stream and, when saved with one, the optimizer (its class, settings,
step and epoch counts as JSON, its state as an array); and the network's metadata (JSON
values of the user's: class names, feature names, how it was trained). Nothing here
executes code from a file; files without a training state (earlier fastbp versions) still load.

Files are written atomically: into a new file in the same folder, flushed to the disk, then
renamed over the target, so a process killed at any moment of a save leaves the old file or
the new one, never a broken one (a killed save may leave its hidden ``.*.tmp`` file behind).
"""

import json
import os
import threading
import zipfile

import numpy as np

FORMAT = 1


def write(path, spec, params, training=None, optimizer_state=None, metadata=None):
    """Write spec (a dict of JSON values), the flat parameters and, when given, training and
    metadata (dicts of JSON values) and optimizer_state (an array) to path, atomically."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temporary, "xb") as f:  # a file object: numpy adds no ".npz" to the name
            arrays = {"params": params, "spec": np.array(json.dumps(dict(spec, format=FORMAT)))}
            if training is not None:
                arrays["training"] = np.array(json.dumps(training))
            if optimizer_state is not None:
                arrays["optimizer_state"] = optimizer_state
            if metadata:
                arrays["metadata"] = np.array(json.dumps(metadata))
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder):
    """Flush the folder's entries, so that the rename itself survives a power loss."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read(path):
    """The (spec without its format number, parameters, training dict or None, optimizer
    state or None, metadata dict) written by write. A file that is not one (truncated,
    corrupted, another program's, a newer format) raises ValueError naming the file and the
    problem."""
    try:
        with np.load(path, allow_pickle=False) as data:
            spec = json.loads(str(data["spec"]))
            params = data["params"]
            training = json.loads(str(data["training"])) if "training" in data else None
            state = data["optimizer_state"] if "optimizer_state" in data else None
            metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable fastbp model file: "
                         f"{type(error).__name__}: {error}") from None
    written = spec.pop("format", None) if isinstance(spec, dict) else None
    if written != FORMAT:
        newer = isinstance(written, int) and written > FORMAT
        raise ValueError(f"{path} was written in format {written!r}, "
                         + ("by a newer fastbp: upgrade fastbp to read it" if newer
                            else f"which this fastbp does not read (it reads format {FORMAT})"))
    return spec, params, training, state, metadata
