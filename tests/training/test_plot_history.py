"""Tests for kerasx.utils.plot_history (kerasx.training.plotting)."""

import builtins
import io
import pickle

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
import matplotlib.figure  # noqa: E402
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import kerasx  # noqa: E402
from kerasx.training import plotting  # noqa: E402
from kerasx.training.callbacks import History  # noqa: E402
from kerasx.utils import plot_history  # noqa: E402
from keras_oracle import require_keras  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fitted():
    kerasx.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.integers(0, 3, size=(40,))
    model = kerasx.models.Sequential([kerasx.layers.Input((4,)),
                                      kerasx.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    return model, history


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def legend_labels(ax):
    legend = ax.get_legend()
    return None if legend is None else [t.get_text() for t in legend.get_texts()]


def test_from_fit_history(fitted):
    _, history = fitted
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    fig = plot_history(history)
    assert isinstance(fig, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in fig.axes]
    expected = [k for k in history.history if not k.startswith("val_")]
    assert titles[0] == "loss" and titles == ["loss"] + [k for k in expected if k != "loss"]
    for ax in fig.axes:
        name = ax.get_title()
        assert ax.get_xlabel() == "epoch"
        lines = lines_by_label(ax)
        np.testing.assert_allclose(lines["train"].get_ydata(), history.history[name])
        np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3])
        if f"val_{name}" in history.history:
            np.testing.assert_allclose(lines["validation"].get_ydata(), history.history[f"val_{name}"])
            np.testing.assert_array_equal(lines["validation"].get_xdata(), [1, 2, 3])
            assert legend_labels(ax) == ["train", "validation"]


def test_accepts_model_and_history_dict(fitted):
    model, history = fitted
    for source in (model, history.history):
        fig = plot_history(source, metrics=["loss"])
        (ax,) = fig.axes
        np.testing.assert_allclose(lines_by_label(ax)["train"].get_ydata(), history.history["loss"])


def test_from_dict_order_and_lone_validation_curve():
    logs = {"accuracy": [0.5, 0.6], "loss": [1.0, 0.8], "val_mae": [0.3, 0.2],
            "learning_rate": [1e-1, 1e-3], "val_loss": [1.1, 0.9]}
    fig = plot_history(logs, ncols=3)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "val_mae", "learning_rate"]
    loss, acc, val_mae, lr = fig.axes
    assert legend_labels(loss) == ["train", "validation"]
    assert legend_labels(acc) is None  # a single curve needs no legend
    np.testing.assert_allclose(lines_by_label(val_mae)["validation"].get_ydata(), [0.3, 0.2])
    np.testing.assert_array_equal(lines_by_label(val_mae)["validation"].get_xdata(), [1, 2])
    assert lr.get_yscale() == "log"


def test_metrics_selection_and_layout():
    logs = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 1.5], "accuracy": [0.1, 0.2, 0.3]}
    fig = plot_history(logs, metrics="accuracy", figsize=(4, 3))
    assert [ax.get_title() for ax in fig.axes] == ["accuracy"]
    assert tuple(fig.get_size_inches()) == (4, 3)
    # Naming a val_ key draws that curve alone.
    fig = plot_history(logs, metrics=["val_loss", "loss"])
    assert [ax.get_title() for ax in fig.axes] == ["val_loss", "loss"]
    assert list(lines_by_label(fig.axes[0])) == ["validation"]
    # ncols=2 with three panels: the unused fourth slot is removed.
    fig = plot_history({**logs, "mae": [1, 2, 3]}, ncols=2)
    assert len(fig.axes) == 3


def test_epoch_numbers_follow_history_epoch():
    history = History()
    history.history = {"loss": [1.0, 0.5, 0.25], "val_loss": [0.9, 0.4, 0.2]}
    history.epoch = [2, 3, 4]  # fit(initial_epoch=2, epochs=5)
    (ax,) = plot_history(history).axes
    for line in ax.get_lines():
        np.testing.assert_array_equal(line.get_xdata(), [3, 4, 5])


def test_sparse_validation_placed_at_validation_epochs():
    logs = {"loss": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0], "val_loss": [5.5, 3.5, 1.5]}  # validation_freq=2
    (ax,) = plot_history(logs).axes
    np.testing.assert_array_equal(lines_by_label(ax)["validation"].get_xdata(), [2, 4, 6])


def test_savefig_png(tmp_path, fitted):
    _, history = fitted
    before = plt.get_fignums()
    path = tmp_path / "history.png"
    fig = plot_history(history, filepath=path)
    assert plt.get_fignums() == before  # no pyplot figure is created, so none leaks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.png"]
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 0 and image.shape[1] > 0
    w, h = fig.get_size_inches() * fig.dpi
    assert image.shape[:2] == (round(h), round(w))


def test_savefig_without_extension_and_file_object(tmp_path):
    path = tmp_path / "curves"
    plot_history({"loss": [1.0, 0.5]}, filepath=str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["curves"]
    assert path.read_bytes()[:8] == PNG_MAGIC
    buf = io.BytesIO()
    plot_history({"loss": [1.0, 0.5]}, filepath=buf)
    assert buf.getvalue()[:8] == PNG_MAGIC


def test_notebook_repr_and_pickle():
    fig = plot_history({"loss": [1.0, 0.5]})
    assert fig._repr_png_()[:8] == PNG_MAGIC
    clone = pickle.loads(pickle.dumps(fig))
    assert [ax.get_title() for ax in clone.axes] == ["loss"]


def test_show_uses_pyplot_and_closes_when_headless(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.get_fignums()))
    monkeypatch.setattr(plt, "isinteractive", lambda: False)
    before = plt.get_fignums()
    fig = plot_history({"loss": [1.0, 0.5]}, show=True)
    assert len(shown) == 1 and fig.number in shown[0]
    assert plt.get_fignums() == before


def test_unknown_metric_lists_available_names(fitted):
    _, history = fitted
    with pytest.raises(ValueError, match=r"'acc'.*Available names: loss, accuracy"):
        plot_history(history, metrics=["acc"])


@pytest.mark.parametrize("empty", [{}, History(), {"loss": []}, kerasx.models.Sequential([])])
def test_empty_history(empty):
    with pytest.raises(ValueError, match=r"fit"):
        plot_history(empty)


def test_bad_input_type():
    with pytest.raises(TypeError, match="History"):
        plot_history([1.0, 0.5])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "kerasx\[plot\]"'):
        plotting.plot_history({"loss": [1.0]})


def test_history_plot_method(tmp_path, fitted):
    _, history = fitted
    fig = history.plot(filepath=str(tmp_path / "h.png"))
    assert [ax.get_title() for ax in fig.axes] == [ax.get_title() for ax in plot_history(history).axes]
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_params_match_keras():
    """History.params as Keras 3 sets it, for the same data, batch size and epochs."""
    keras = require_keras()  # skips this test without Keras

    x = np.zeros((40, 4), "float32")
    y = np.zeros((40,), "int32")
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    keras_params = theirs.fit(x, y, batch_size=16, epochs=2, verbose=0).params
    assert keras_params["steps"] == 3 and keras_params["epochs"] == 2
    ours = kerasx.Sequential([kerasx.layers.Input((4,)), kerasx.layers.Dense(3, activation="softmax")])
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert ours.fit(x, y, batch_size=16, epochs=2, verbose=0).params == keras_params
