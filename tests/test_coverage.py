"""The API coverage report (benchmarks/coverage.py) runs, and the modules that are complete stay so."""

import importlib.util
import pathlib

import pytest

from keras_oracle import require_keras

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "coverage.py"


def _coverage_module():
    spec = importlib.util.spec_from_file_location("kerasx_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows():
    keras = require_keras()
    module = _coverage_module()
    for name, excluded in module.EXCLUDED.items():  # every exclusion is a real Keras name
        assert set(excluded) <= set(dir(importlib.import_module(f"keras.{name}"))), name
    return {label: (have, of, missing) for label, have, of, missing in module.coverage()}


@pytest.mark.parametrize("module", ["ops", "ops.nn", "ops.numpy", "ops.image", "ops.linalg",
                                    "random", "regularizers", "constraints", "activations",
                                    "initializers", "optimizers", "optimizers.schedules",
                                    "losses", "metrics", "datasets",
                                    "layers (sequence issue)"])
def test_complete_modules_stay_complete(rows, module):
    have, of, missing = rows[module]
    assert not missing and have == of > 0, f"kerasx.{module} lacks {missing}"


def test_every_row_counts_real_names(rows):
    assert {"layers", "layers (sequence issue)", "metrics", "utils"} <= set(rows)
    for label, (have, of, missing) in rows.items():
        assert 0 <= have <= of and len(missing) == of - have, label


@pytest.mark.parametrize("module", ["layers", "callbacks", "utils"])
def test_the_other_modules_stay_above_the_target(rows, module):
    have, of, missing = rows[module]
    assert have / of >= 0.93, f"kerasx.{module}: {have}/{of}, lacks {missing}"
