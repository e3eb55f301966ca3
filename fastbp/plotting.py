"""Learning curves of a fit with matplotlib (``pip install matplotlib``):
:meth:`fastbp.History.plot`."""


def plot_history(history, path=None):
    """Loss, and accuracy when recorded, per epoch: training and validation curves.

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
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    if not history.epoch:
        raise ValueError("the history has no completed epoch to plot")
    metrics = [m for m in ("loss", "accuracy") if m in history.history]
    figure = Figure(figsize=(5 * len(metrics), 3.6))
    axes = figure.subplots(1, len(metrics), squeeze=False)
    epochs = [e + 1 for e in history.epoch]
    for ax, metric in zip(axes[0], metrics):
        ax.plot(epochs, history.history[metric], marker="o", label="training")
        if "val_" + metric in history.history:
            ax.plot(epochs, history.history["val_" + metric], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
