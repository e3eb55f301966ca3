"""
Exporting to ONNX and PyTorch
=============================

A trained network leaves fastbp as an ONNX model (run here by ONNX Runtime) or as a PyTorch
``nn.Sequential``; both compute what ``net.forward`` computes.
"""

import tempfile
from pathlib import Path

import numpy as np

import fastbp
from fastbp.datasets import load_digits

X_train, y_train, X_test, y_test = load_digits()
net = fastbp.Network([64, 32, 10], activation="gelu", seed=0)
net.fit(X_train, y_train, epochs=10, lr=0.1)

path = Path(tempfile.mkdtemp()) / "digits.onnx"
net.to_onnx(path)
try:
    import onnxruntime
except ImportError:
    print("pip install onnxruntime to run the exported model")
else:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(["Y"], {"X": X_test})[0]
    print("ONNX Runtime vs fastbp, largest difference:",
          np.abs(outputs - net.forward(X_test)).max())
    print("same predictions:", (outputs.argmax(1) == net.predict(X_test)).all())

# %%
# PyTorch, when installed: the module and back. (The documentation is built without PyTorch,
# a large install that its extra leaves out: there this part only says so. Run the example
# where PyTorch is installed to see the module, its largest difference from fastbp's
# outputs, and the network read back.)
try:
    import torch
except ImportError:
    print("PyTorch is not installed here: this part is skipped (see the comment above)")
else:
    module = net.to_torch()
    print(module)
    with torch.no_grad():
        print("largest difference:",
              np.abs(module(torch.from_numpy(X_test)).numpy() - net.forward(X_test)).max())
    print(fastbp.from_torch(module))
