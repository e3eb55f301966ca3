"""
Watching backpropagation: vanishing errors in a deep sigmoid network
====================================================================

Two networks of five hidden layers of 32 units, one of sigmoids and one of ReLUs, trained
the same way (plain SGD, 20 epochs) on scikit-learn's bundled digits, with the per-layer
record on (``fit(track_layers=True)``). The record shows why the sigmoid network learns
slowly: its errors delta^l shrink layer by layer on the way down (eq. 7 multiplies them by
sigma'(z) <= 1/4 at every layer), and so do its first layers' gradients (eq. 3), while the
ReLU network's errors keep their size.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastbp
from fastbp.datasets import load_digits

X_train, y_train, X_test, y_test = load_digits()
histories = {}
for activation in ("sigmoid", "relu"):
    net = fastbp.Network([64, 32, 32, 32, 32, 32, 10], activation=activation, seed=0)
    histories[activation] = net.fit(X_train, y_train, epochs=20, batch_size=32, lr=0.1,
                                    validation_data=(X_test, y_test), track_layers=True)
    print(f"{activation:>7}: test accuracy {net.evaluate(X_test, y_test)['accuracy']:.3f}")

# %%
# The record of the last epoch: the RMS of each layer's error, from the first hidden layer
# (1) to the output layer (6), and how much smaller each is than the output layer's.

for activation, history in histories.items():
    rms = history.layers["delta_rms"][-1]
    print(f"{activation:>7}: RMS of delta^l", np.array2string(rms, precision=2),
          "  output / layer 1:", f"{rms[-1] / rms[0]:,.1f}x")

# %%
# Per epoch: the errors' RMS and the gradient norms, one line per layer, on a log scale
# shared by the two networks.
# ``history.plot()`` draws every quantity of the record; here two of them, side by side.

PANELS = (("delta_rms", r"RMS of $\delta^l$"),
          ("grad_norm", r"$\Vert\partial \mathcal{L}/\partial W^l\Vert$"))
figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey="row")
epochs = np.arange(1, 21)
for column, (activation, history) in enumerate(histories.items()):
    for row, (key, label) in enumerate(PANELS):
        ax = axes[row, column]
        for l in range(history.layers[key].shape[1]):
            ax.plot(epochs, history.layers[key][:, l], label=f"layer {l + 1}")
        ax.set(yscale="log", ylabel=label, title=activation if row == 0 else None)
        ax.grid(alpha=0.3)
axes[1, 0].set_xlabel("epoch")
axes[1, 1].set_xlabel("epoch")
axes[0, 1].legend(fontsize="small")
figure.tight_layout()
