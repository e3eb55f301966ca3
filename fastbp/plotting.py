"""Learning curves of a fit with matplotlib (``pip install matplotlib``):
:meth:`fastbp.History.plot`."""

import numpy as np


# The per-layer record's panels (History.layers): each quantity and how its axis is drawn.
LAYER_PANELS = (("delta_rms", r"RMS of $\delta^l$", "log"),
                ("grad_norm", r"$\Vert\partial \mathcal{L} / \partial W^l\Vert$", "log"),
                ("weight_norm", r"$\Vert W^l\Vert$", "log"),
                ("update_ratio", r"$\Vert\Delta W^l\Vert \,/\, \Vert W^l\Vert$", "log"),
                ("dead_fraction", "fraction of dead units", "linear"))


def plot_history(history, path=None):
    """Loss, and accuracy when recorded, per epoch: training and validation curves; with a
    per-layer record (``fit(track_layers=True)``), a panel per quantity with one line per
    layer, on a log scale (the dead fraction, which is often 0, on a linear one).

    Parameters
    ----------
    history : fastbp.History
    path : str or path-like, optional
        Save the figure there (the format from the extension: .png, .svg, .pdf, ...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        from matplotlib.figure import Figure  # not pyplot: no backend or global state
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    if not history.epoch:
        raise ValueError("the history has no completed epoch to plot")
    metrics = [m for m in ("loss", "accuracy") if m in history.history]
    layers = history.layers
    panels = len(metrics) + (len(LAYER_PANELS) if layers else 0)
    columns = min(panels, 3)
    rows = -(-panels // columns)
    figure = Figure(figsize=(5 * columns, 3.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    epochs = [e + 1 for e in history.epoch]
    for ax, metric in zip(axes, metrics):
        ax.plot(epochs, history.history[metric], marker="o", label="training")
        if "val_" + metric in history.history:
            ax.plot(epochs, history.history["val_" + metric], marker="o", label="validation")
        ax.set_ylabel(metric)
    if layers:
        for ax, (key, label, scale) in zip(axes[len(metrics):], LAYER_PANELS):
            values = layers[key]
            for l in range(values.shape[1]):
                if not np.isnan(values[:, l]).all():  # the output layer has no dead units
                    ax.plot(epochs, values[:, l], marker=".", label=f"layer {l + 1}")
            ax.set_yscale(scale)
            ax.set_ylabel(label)
            if scale == "linear":  # a fraction
                ax.set_ylim(-0.03, 1.03)
    for ax in axes[:panels]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[panels:]:
        ax.set_visible(False)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
