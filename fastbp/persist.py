"""Save and load networks: one .npz file holding the flat parameters and the spec."""

import json

import numpy as np

FORMAT = 1


def save(net, path):
    """Write the network's spec and parameters to ``path`` (an .npz file)."""
    spec = {"format": FORMAT, "sizes": net.sizes, "activation": net.activations[:-1],
            "output": net.activations[-1], "loss": net.loss_name,
            "dtype": np.dtype(net.dtype).name, "init": net.init, "dropout": net.dropout}
    with open(path, "wb") as f:  # a file object: numpy adds no ".npz" to the user's name
        np.savez(f, params=net.params, spec=np.array(json.dumps(spec)))


def load(path):
    """Read a network written by :func:`save` (or ``Network.save``).

    Returns
    -------
    Network
    """
    from .network import Network
    with np.load(path, allow_pickle=False) as data:
        spec = json.loads(str(data["spec"]))
        if spec.get("format") != FORMAT:
            raise ValueError(f"{path} was written by an unknown fastbp format "
                             f"{spec.get('format')!r}")
        net = Network(spec["sizes"], activation=spec["activation"], output=spec["output"],
                      loss=spec["loss"], dtype=spec["dtype"], init=spec["init"],
                      dropout=spec["dropout"])
        net.params = data["params"]
    return net
