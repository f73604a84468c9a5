"""`plot_history`: loss and metric curves of a `fit`, drawn with matplotlib.

matplotlib is an optional extra (`pip install "kerasx[plot]"`); it is imported
only when `plot_history` is called.

The figure is built as a plain `matplotlib.figure.Figure`, without pyplot: no
global pyplot state is touched and nothing is left open (so plotting in a loop
does not leak figures), unless `show=True` asks pyplot to display it. A figure
returned as a notebook cell's result still renders inline: it carries a
`_repr_png_` that IPython uses.
"""

import math
import numbers
import os
from collections.abc import Mapping

__all__ = ["plot_history"]

_LR_KEYS = ("learning_rate", "lr")
_EXTRA_HINT = 'plot_history needs matplotlib. Install it with: pip install "kerasx[plot]"'


def _import_matplotlib():
    try:
        import matplotlib  # noqa: F401
        import matplotlib.figure  # noqa: F401
    except ImportError as e:
        raise ImportError(_EXTRA_HINT) from e
    return matplotlib


_FIGURE_CLASS = None


def _figure_class():
    """A `matplotlib.figure.Figure` subclass with a `_repr_png_` for IPython (built lazily,
    since matplotlib is optional; reachable as `plotting._HistoryFigure` so figures pickle)."""
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        import io

        from matplotlib.figure import Figure

        class _HistoryFigure(Figure):
            """A matplotlib `Figure` that renders itself as PNG in IPython/Jupyter."""

            def _repr_png_(self):
                buf = io.BytesIO()
                self.savefig(buf, format="png")
                return buf.getvalue()

        _HistoryFigure.__module__ = __name__
        _HistoryFigure.__qualname__ = "_HistoryFigure"
        _FIGURE_CLASS = _HistoryFigure
    return _FIGURE_CLASS


def __getattr__(name):  # PEP 562: lets pickle find the lazily built figure class
    if name == "_HistoryFigure":
        _import_matplotlib()
        return _figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _unpack(history):
    """(logs dict, epoch list or None) from a History, a `model`, or a plain dict."""
    epoch = None
    obj = history
    # A History has `.history` (a dict); a model has `.history` (a History).
    for _ in range(2):
        if isinstance(obj, Mapping) or obj is None:
            break
        if not hasattr(obj, "history"):
            raise TypeError(
                "plot_history expects a `History` (what `fit` returns), a model that has been "
                "fit, or a dict mapping names to per-epoch values (`history.history`). "
                f"Received: {type(history).__name__}")
        epoch = getattr(obj, "epoch", None)
        obj = obj.history
    if obj is None or (isinstance(obj, Mapping) and not obj):
        raise ValueError(
            "The history is empty: no epochs were recorded. Call `model.fit(...)` first and "
            "plot the `History` it returns.")
    if not isinstance(obj, Mapping):
        raise TypeError(f"plot_history expects a dict of per-epoch values; got {type(obj).__name__}")
    logs = {}
    for key, values in obj.items():
        if isinstance(values, numbers.Number) or getattr(values, "shape", None) == ():
            values = [values]
        try:
            logs[str(key)] = [float(v) for v in values]
        except (TypeError, ValueError) as e:
            raise TypeError(f"History entry {key!r} must be a list of numbers, one per epoch; "
                            f"got {values!r}") from e
    if not any(logs.values()):
        raise ValueError(
            "The history is empty: no epochs were recorded. Call `model.fit(...)` first and "
            "plot the `History` it returns.")
    return logs, (list(epoch) if epoch is not None else None)


def _panels(logs):
    """The default panel names, in log order: `loss` first, each non-`val_` key, and a
    `val_x` whose `x` is absent; learning-rate keys last."""
    names = []
    for key in logs:
        if key.startswith("val_") and key[4:] in logs:
            continue
        names.append(key)
    # Stable sort: `loss` (or a lone `val_loss`) first, learning rate last, else log order.
    names.sort(key=lambda k: (k.removeprefix("val_") != "loss", k in _LR_KEYS))
    return names


def _series_for(name, logs):
    """[(key, label)] drawn in the panel called `name`."""
    if name.startswith("val_"):
        return [(name, "validation")]
    out = [(name, "train")]
    if f"val_{name}" in logs:
        out.append((f"val_{name}", "validation"))
    return out


def _epochs(n, epoch):
    """1-based epoch numbers for a series of `n` values (`History.epoch` + 1 when it matches,
    so a `fit(initial_epoch=...)` keeps its numbering, as in the progress bar)."""
    if epoch is not None and len(epoch) == n:
        return [int(e) + 1 for e in epoch]
    return list(range(1, n + 1))


def _sparse_epochs(m, train_x):
    """Where `m` validation values sit among the epochs `train_x` (`validation_freq=k`
    validates at the epochs divisible by k): the largest such k that fits, else the last
    `m` epochs."""
    if m >= len(train_x):
        return train_x[:m] if m == len(train_x) else list(range(1, m + 1))
    for k in range(max(train_x), 0, -1):
        hits = [e for e in train_x if e % k == 0]
        if len(hits) == m:
            return hits
    return train_x[-m:]


def plot_history(history, *, metrics=None, filepath=None, show=False, figsize=None, ncols=None):
    """Draws the loss and metric curves of a `fit` with matplotlib.

    One subplot per quantity, titled with its name: `loss` first, then the metrics in
    the order they were logged, then the learning rate if it was logged (on a log scale
    when it spans more than a factor of 10). A quantity's training curve ("train") and its
    `val_` curve ("validation") share the subplot. The x axis is the 1-based epoch number,
    as the progress bar prints it ("Epoch 1/..."): `History.epoch` + 1 (so
    `fit(initial_epoch=2)` starts at 3), or 1, 2, ... for a plain dict. Validation values
    logged only every `validation_freq` epochs are placed at those epochs.

    Args:
        history: The `History` returned by `fit` (or `model.history`, or the model itself),
            or a dict mapping names to per-epoch values (`history.history`).
        metrics: A name or list of names to draw, as panel names (`"loss"`, `"accuracy"`,
            ...); each brings its `val_` curve along. Default: every key that does not start
            with `val_`, plus a `val_x` whose `x` was not logged. Naming a `val_x` key draws
            that curve alone.
        filepath: If given, the figure is saved there (`Figure.savefig`; PNG unless the file
            extension names another format matplotlib writes). Nothing else is written.
        show: If True, also display the figure now through pyplot (a window in a script,
            inline in a notebook mid-cell). By default pyplot is not used at all, so no
            figures accumulate; in a notebook the returned figure renders inline as the
            cell's result.
        figsize: `(width, height)` in inches. Default: 5.5 x 3.8 per subplot.
        ncols: Subplots per row. Default: `min(2, number of subplots)`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ImportError: if matplotlib is not installed (`pip install "kerasx[plot]"`).
        ValueError: if the history is empty (`fit` has not run) or a name in `metrics`
            was not logged.

    Example:

    >>> history = model.fit(x, y, epochs=10, validation_split=0.2, verbose=0)
    >>> fig = kerasx.utils.plot_history(history, filepath="history.png")
    """
    _import_matplotlib()
    from matplotlib.ticker import MaxNLocator

    logs, epoch = _unpack(history)
    available = _panels(logs)
    if metrics is None:
        names = available
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        if not names:
            raise ValueError(f"`metrics` is empty. Available names: {', '.join(available)}")
        unknown = [n for n in names if n not in logs]
        if unknown:
            raise ValueError(
                f"Unknown metric name(s) {', '.join(map(repr, unknown))} in `metrics`: not in "
                f"the history. Available names: {', '.join(available)}")
        names = list(dict.fromkeys(names))  # drop repeats, keep order
    names = [n for n in names if any(logs[k] for k, _ in _series_for(n, logs))]
    if not names:
        raise ValueError("The history has no values to plot: no epochs were recorded. "
                         "Call `model.fit(...)` first.")

    n = len(names)
    ncols = min(n, 2) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"`ncols` must be a positive integer. Received: ncols={ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if figsize is None:
        figsize = (5.5 * ncols, 3.8 * nrows)

    if show:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained", FigureClass=_figure_class())
    else:
        fig = _figure_class()(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()

    for ax, name in zip(axes, names):
        series = _series_for(name, logs)
        base_x = _epochs(len(logs[series[0][0]]), epoch)
        for key, label in series:
            values = logs[key]
            if not values:
                continue
            if key == series[0][0]:
                x = base_x
            else:  # a validation curve beside a training one
                x = _sparse_epochs(len(values), base_x)
            sparse = len(values) < len(base_x) or len(values) == 1
            ax.plot(x, values, label=label, marker="o" if sparse else None, markersize=4)
        if name in _LR_KEYS:
            lr = [v for v in logs[name] if math.isfinite(v)]
            if lr and min(lr) > 0 and max(lr) > 10 * min(lr):
                ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if len(ax.get_lines()) > 1:
            ax.legend()
    for ax in axes[n:]:
        fig.delaxes(ax)

    if filepath is not None:
        fmt = "png"  # a file object, or a path without an extension (saved as named)
        if isinstance(filepath, (str, os.PathLike)) and os.path.splitext(os.fspath(filepath))[1]:
            fmt = None  # matplotlib infers the format from the extension
        fig.savefig(filepath, format=fmt)

    if show:
        import matplotlib.pyplot as plt

        plt.show()
        if not plt.isinteractive():
            # show() has returned: the window was closed (or, headless, cannot open).
            plt.close(fig)
    return fig
