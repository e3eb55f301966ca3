"""The file format of saved networks: one .npz file holding the flat parameters and the
constructor's arguments (the spec) as JSON. Nothing here executes code from a file."""

import json

import numpy as np

FORMAT = 1


def write(path, spec, params):
    """Write spec (a dict of JSON values) and the flat parameters to path."""
    with open(path, "wb") as f:  # a file object: numpy adds no ".npz" to the user's name
        np.savez(f, params=params, spec=np.array(json.dumps(dict(spec, format=FORMAT))))


def read(path):
    """The (spec without its format number, parameters) written by write."""
    with np.load(path, allow_pickle=False) as data:
        spec = json.loads(str(data["spec"]))
        written = spec.pop("format", None)
        if written != FORMAT:
            raise ValueError(f"{path} was written by an unknown fastbp format {written!r}")
        return spec, data["params"]
