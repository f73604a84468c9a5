"""kerasx.distribution: Keras 3's API on jax.sharding.

In this process JAX has one CPU device; the multi-device checks run in subprocesses with 8
forced host devices, and the multi-process checks join two local processes with
`kerasx.distribution.initialize` (CPU collectives)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import kerasx as keras
from kerasx import distribution

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def _no_distribution():
    yield
    distribution.set_distribution(None)


# ---------------------------------------------------------------------- the API, one device
def test_list_devices_and_count():
    assert distribution.list_devices() == [f"{d.platform}:{d.id}" for d in jax.devices()]
    assert distribution.list_devices("cpu") == [f"cpu:{d.id}" for d in jax.devices("cpu")]
    assert distribution.get_device_count() == jax.device_count()
    with pytest.raises(ValueError, match="device_type"):
        distribution.list_devices("abacus")


def test_device_mesh_and_its_errors():
    mesh = distribution.DeviceMesh((1,), ("batch",))
    assert mesh.shape == (1,) and mesh.axis_names == ("batch",)
    assert mesh.backend_mesh.shape == {"batch": 1}
    assert distribution.DeviceMesh((1,), ("batch",), devices=["cpu:0"]).devices[0] == \
        jax.devices("cpu")[0]
    n = jax.device_count()
    with pytest.raises(ValueError, match=rf"needs {2 * n * 4} devices, but only {n} are present"):
        distribution.DeviceMesh((2 * n, 4), ("batch", "model"))
    with pytest.raises(ValueError, match="same length"):
        distribution.DeviceMesh((1,), ("batch", "model"))
    with pytest.raises(ValueError, match="non-empty"):
        distribution.DeviceMesh((), ())
    with pytest.raises(ValueError, match="No device named"):
        distribution.DeviceMesh((1,), ("batch",), devices=["tpu:9"])


def test_tensor_layout_and_layout_map():
    mesh = distribution.DeviceMesh((1, 1), ("batch", "model"))
    with pytest.raises(ValueError, match=r"mesh axes \['data'\]"):
        distribution.TensorLayout((None, "data"), mesh)
    layout = distribution.TensorLayout((None, "model"), mesh)
    assert layout.backend_layout.spec == jax.sharding.PartitionSpec(None, "model")
    layout_map = distribution.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    layout_map["dense/bias"] = distribution.TensorLayout(("model",))
    assert layout_map["dense_3/kernel"].axes == (None, "model")
    assert layout_map["dense_3/kernel"].device_mesh is mesh  # filled in by the map
    assert layout_map["dense/bias"].axes == ("model",)
    assert layout_map["conv/kernel"] is None
    with pytest.raises(ValueError, match="already in the LayoutMap"):
        layout_map["dense/bias"] = ("model",)
    with pytest.raises(ValueError, match="TensorLayout or a tuple"):
        layout_map["x"] = "model"
    layout_map[".*kernel"] = (None, None)
    with pytest.raises(ValueError, match="matches several LayoutMap keys"):
        layout_map["dense/kernel"]
    assert len(layout_map) == 3 and list(layout_map)[0] == ".*dense.*kernel"
    del layout_map[".*kernel"]
    assert len(layout_map) == 2


def test_distributions_and_scope():
    dp = distribution.DataParallel()
    assert dp.batch_dim_name == "batch" and dp.num_model_replicas == jax.device_count()
    assert distribution.distribution() is None
    with dp.scope():
        assert distribution.distribution() is dp
    assert distribution.distribution() is None
    with pytest.raises(ValueError, match="either `device_mesh` or `devices`"):
        distribution.DataParallel(device_mesh=dp.device_mesh, devices=jax.devices())
    with pytest.raises(ValueError, match="needs a `layout_map`"):
        distribution.ModelParallel()
    with pytest.raises(ValueError, match="Expected `layout_map` to be a LayoutMap"):
        distribution.ModelParallel(layout_map={"a": (None,)})
    mesh = distribution.DeviceMesh((1, 1), ("data", "model"))
    mp = distribution.ModelParallel(layout_map=distribution.LayoutMap(mesh))
    assert mp.batch_dim_name == "data" and mp.num_model_replicas == 1
    with pytest.raises(ValueError, match="not an axis of the mesh"):
        distribution.ModelParallel(layout_map=distribution.LayoutMap(mesh), batch_dim_name="b")
    with pytest.raises(ValueError, match="Expected a Distribution"):
        distribution.set_distribution("data_parallel")


def test_distribute_tensor_outside_and_inside_jit():
    mesh = distribution.DeviceMesh((1,), ("batch",))
    layout = distribution.TensorLayout(("batch", None), mesh)
    x = np.arange(6.0).reshape(2, 3)
    placed = distribution.distribute_tensor(x, layout)
    assert placed.sharding == layout.backend_layout
    out = jax.jit(lambda a: distribution.distribute_tensor(a * 2, layout))(x)
    np.testing.assert_allclose(out, x * 2)


def test_training_under_a_one_device_distribution_matches_plain_training():
    """The distributed path (sharded build, stepped batches) on the one device present."""
    def train(dist):
        distribution.set_distribution(dist)
        try:
            keras.utils.set_random_seed(3)
            model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                                      keras.layers.Dense(2)])
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            rng = np.random.default_rng(0)
            x, y = rng.normal(size=(40, 5)).astype("float32"), rng.integers(0, 2, 40)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0)
            return model.get_weights(), model.predict(x, verbose=0)
        finally:
            distribution.set_distribution(None)
    (w0, p0), (w1, p1) = train(None), train(distribution.DataParallel())
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(p0, p1, atol=1e-6)


def test_initialize_without_a_coordinator_is_a_clear_error():
    code = ("import os; [os.environ.pop(k, None) for k in list(os.environ) "
            "if k.startswith('KERAS_DISTRIBUTION_')]\n"
            "from kerasx import distribution\n"
            "try:\n    distribution.initialize()\n"
            "except ValueError as e:\n    print('ERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "ERROR kerasx.distribution.initialize() needs the coordinator's address" in out.stdout, \
        out.stdout + out.stderr


# ---------------------------------------------------------------------- 8 forced host devices
EIGHT_DEVICES = textwrap.dedent("""
    import glob, json, os, re, sys
    DUMP = {dump!r}  # the optimized programs of the train executions, to count collectives
    os.environ["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=8 --xla_dump_to=" + DUMP
                               + " --xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*train_exec.*")
    sys.path.insert(0, {here!r})
    import numpy as np, jax
    import kerasx as keras
    from kerasx import distribution
    from _distributed_models import data, make_model

    x, y = data()
    report = {{}}

    def train(dist, on_device=True, shuffle=False):
        distribution.set_distribution(dist)
        try:
            model = make_model()
            model.compile(keras.optimizers.Adam(0.01),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          data_on_device=on_device)
            model.fit(x, y, batch_size=16, epochs=2, shuffle=shuffle, verbose=0)
            return model
        finally:
            distribution.set_distribution(None)

    def diff(a, b):
        return max(float(np.max(np.abs(u - v))) for u, v in zip(a.get_weights(), b.get_weights()))

    cases = {cases!r}
    base = train(None) if any(not c[2] for c in cases) else None
    base_shuffled = train(None, shuffle=True) if any(c[2] for c in cases) else None
    dp = distribution.DataParallel()
    mesh = distribution.DeviceMesh((2, 4), ("batch", "model"))
    layout_map = distribution.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    layout_map[".*embedding.*embeddings"] = (None, "model")
    layout_map[".*(query|key|value).*kernel"] = (None, "model", None)
    mp = distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    for name, on_device, shuffle in cases:
        dist = dp if name == "data" else mp
        model = train(dist, on_device, shuffle)
        reference = base_shuffled if shuffle else base
        report[f"{{name}}_{{on_device}}_{{shuffle}}"] = diff(model, reference)
        with dist.scope():
            report[f"{{name}}_predict"] = float(np.max(np.abs(
                model.predict(x, batch_size=16, verbose=0)
                - reference.predict(x, batch_size=16, verbose=0))))
        report[f"{{name}}_shardings"] = {{v.path: str(v.value.sharding.spec) for v in model.weights}}
        report[f"{{name}}_devices"] = {{v.path: len(v.value.sharding.device_set)
                                      for v in model.weights}}
        opt = model.optimizer.variables if hasattr(model.optimizer, "variables") else []
        slots = model._trainer.opt_state.slots
        report[f"{{name}}_slot_sharding"] = jax.tree.map(
            lambda a: str(a.sharding.spec), slots)["momentum"]["dense"]["kernel"]
    # bad input
    errors = {{}}
    distribution.set_distribution(dp)
    try:
        make_model().fit(x, y, batch_size=12, epochs=1, verbose=0)
    except ValueError as e:
        errors["batch"] = str(e)
    bad = distribution.LayoutMap(mesh)
    bad[".*dense_1.*kernel"] = (None, "model")  # (32, 4) over 4 devices: fine
    bad[".*dense_1.*bias"] = (("batch", "model"),)  # 4 values over 8 devices: no
    distribution.set_distribution(distribution.ModelParallel(layout_map=bad))
    try:
        make_model().predict(x[:16], verbose=0)  # builds the weights in their layouts
    except ValueError as e:
        errors["layout"] = str(e)
    distribution.set_distribution(None)
    report["errors"] = errors
    programs = sorted(glob.glob(os.path.join(DUMP, "*train_exec*after_optimizations.txt")),
                      key=lambda p: int(re.search(r"module_(\\d+)", p).group(1)))
    report["collectives"] = []
    for path in programs:
        text = open(path).read()
        report["collectives"].append({{op: len(re.findall(" " + op + "\\(", text))
                                      for op in ("all-gather", "all-reduce", "all-to-all")}})
    print("REPORT" + json.dumps(report))
""")


def _run_report(code, timeout=600):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE)
    lines = [l for l in out.stdout.splitlines() if l.startswith("REPORT")]
    assert lines, out.stdout[-3000:] + out.stderr[-5000:]
    return json.loads(lines[-1][len("REPORT"):])


FAST_CASES = [("data", True, True), ("model", False, False)]
ALL_CASES = [(name, on_device, shuffle) for name in ("data", "model")
             for on_device in (True, False) for shuffle in (False, True)]


@pytest.mark.parametrize("cases", [FAST_CASES, pytest.param(ALL_CASES, marks=pytest.mark.slow)],
                         ids=["fast", "all"])
def test_data_and_model_parallel_on_eight_devices_match_one_device(cases, tmp_path):
    """(distribution, data resident on the devices or streamed, shuffled) cases: the weights
    after two epochs of `fit` equal one device's within 1e-5, and so do the predictions."""
    report = _run_report(EIGHT_DEVICES.format(here=HERE, cases=cases, dump=str(tmp_path)))
    for name, on_device, shuffle in cases:
        key = f"{name}_{on_device}_{shuffle}"
        assert report[key] < 1e-5, (key, report[key])
    for name in ("data", "model"):
        assert report[f"{name}_predict"] < 1e-5
    # DataParallel replicates every weight on all 8 devices
    assert set(report["data_shardings"].values()) <= {"P()", "P(None,)", "P(None, None)",
                                                     "P(None, None, None)"}
    # ModelParallel splits what the layout map names (and only that)
    mp = report["model_shardings"]
    assert mp["dense/kernel"] == "P(None, 'model')"
    assert mp["dense_1/kernel"] == "P(None, 'model')"
    assert mp["embedding/embeddings"] == "P(None, 'model')"
    assert mp["query/kernel"] == "P(None, 'model', None)"
    assert mp["dense/bias"] in ("P(None,)", "P()")
    assert report["model_devices"]["dense/kernel"] == 8
    # the optimizer state follows its weight's layout
    assert report["model_slot_sharding"] == "P(None, 'model')"
    assert report["data_slot_sharding"] in ("P(None, None)", "P()")
    # The compiled train executions, in compile order: one device's have no collectives; the
    # first distributed one is DataParallel's on shuffled resident data: its gradients are
    # summed (all-reduce) and each device gathers its rows of the batch locally (no
    # all-gather); ModelParallel's gather the split activations.
    distributed = [c for c in report["collectives"] if any(c.values())]
    assert distributed, report["collectives"]
    assert distributed[0]["all-gather"] == 0 and distributed[0]["all-to-all"] == 0
    assert distributed[0]["all-reduce"] >= 1
    assert any(c["all-gather"] > 0 for c in distributed[1:])
    errors = report["errors"]
    assert "batch size 12 does not divide evenly over the 8 devices" in errors["batch"]
    assert ("The layout (('batch', 'model'),) of weight 'dense_1/bias' splits axis 0 (size 4) "
            "across mesh axis ('batch', 'model') of 8 devices, which does not divide it"
            ) in errors["layout"]


# ---------------------------------------------------------------------- two processes
def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _two_processes(mode, tmp_path):
    port = _free_port()
    outs = [tmp_path / f"process{i}.npz" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "_distributed_worker.py"),
                               str(i), "2", str(port), mode, str(outs[i])],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-5000:]
    return [np.load(o) for o in outs]


def _one_process_reference():
    sys.path.insert(0, HERE)
    from _distributed_models import data, make_model
    x, y = data()
    model = make_model()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model.get_weights(), history.history["loss"], model.predict(x, verbose=0)


@pytest.mark.parametrize("mode", ["model", pytest.param("data", marks=pytest.mark.slow)])
def test_two_processes_train_the_same_weights_as_one(mode, tmp_path):
    """Two processes of 4 devices each, joined by `initialize`: a 2x4 mesh whose batch axis
    spans the processes (each feeds half of every batch) and whose model axis splits the
    kernels within each, or DataParallel over all 8 devices."""
    results = _two_processes(mode, tmp_path)
    weights, loss, predictions = _one_process_reference()
    for result in results:
        np.testing.assert_allclose(result["loss"], loss, rtol=1e-5)
        for i, w in enumerate(weights):
            np.testing.assert_allclose(result[f"arr_{i}"], w, atol=1e-5)
        # `predict` in each process returns the predictions of the rows it fed
        np.testing.assert_allclose(result["predictions"], predictions[result["rows"]],
                                   atol=1e-5)
    # the weights file that both processes saved (process 0 wrote it) loads in one process
    saved = tmp_path / "process0.shared.weights.safetensors"
    assert saved.exists() and not (tmp_path / "process1.shared.weights.safetensors").exists()
    from _distributed_models import make_model
    model = make_model()
    model.load_weights(str(saved))
    for a, w in zip(model.get_weights(), weights):
        np.testing.assert_allclose(a, w, atol=1e-5)
    if mode == "model":  # and the orbax checkpoint they wrote, shard by shard
        pytest.importorskip("orbax.checkpoint")
        model = make_model()
        model.load_weights(str(tmp_path / "shared.orbax"))
        for a, w in zip(model.get_weights(), weights):
            np.testing.assert_allclose(a, w, atol=1e-5)


def test_layout_map_keys_match_keras_and_kerasx_weight_paths():
    """A layout map written for Keras (`sequential/dense/kernel`, `multi_head_attention/
    query/kernel`) or from kerasx's `variable.path` (`query/kernel`) reaches its weight."""
    mesh = distribution.DeviceMesh((1, 1), ("batch", "model"))
    layout_map = distribution.LayoutMap(mesh)
    layout_map["sequential/dense/kernel"] = (None, "model")
    layout_map["multi_head_attention/key/kernel"] = ("model", None, None)
    layout_map["query/kernel"] = (None, "model", None)
    with distribution.ModelParallel(layout_map=layout_map).scope():
        seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="sequential")
        seq.build()
        inputs = keras.Input((3, 4))
        outputs = keras.layers.MultiHeadAttention(2, 2)(inputs, inputs)
        functional = keras.Model(inputs, outputs)
        functional.build((None, 3, 4))
    spec = lambda v: v.value.sharding.spec
    P = jax.sharding.PartitionSpec
    assert spec(seq.layers[0].kernel) == P(None, "model")
    by_path = {v.path: spec(v) for v in functional.weights}
    assert by_path["key/kernel"] == P("model", None, None)
    assert by_path["query/kernel"] == P(None, "model", None)
    assert by_path["value/kernel"] == P(None, None, None)


def test_streamed_batches_of_one_sample_with_one_feature_keep_their_shape():
    """Stepped chunks: rows of shape (1,) in batches of 1 stay (steps, 1, 1), not (steps, 1)."""
    x = np.arange(6, dtype="float32").reshape(6, 1)

    def train(dist):
        distribution.set_distribution(dist)
        try:
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
            model.compile("sgd", "mse", data_on_device=False)
            model.fit(x, 2 * x, batch_size=1, epochs=1, shuffle=False, verbose=0)
            return model.get_weights()
        finally:
            distribution.set_distribution(None)
    for a, b in zip(train(None), train(distribution.DataParallel(devices=jax.devices()[:1]))):
        np.testing.assert_allclose(a, b, atol=1e-6)
