"""Keras 3, the numerical oracle, imported by the tests that use it and by no others.

Keras is a test-only dependency (the `test` extra). Without it, the oracle tests are skipped with
a reason and every kerasx-only test still runs:

* `keras` below stands for the `keras` module: the first attribute a test reads from it imports
  Keras, or skips that test (`pytest.importorskip`) where Keras is not installed. Modules that
  mix oracle tests with kerasx-only ones use it (`from keras_oracle import keras`) instead of a
  module-level `import keras`, so only the tests that touch Keras are skipped.
* `require_keras()` is the explicit form, for a helper or a test that needs the module itself.

(Importable from every test folder: pytest puts `tests/`, the folder of the root conftest.py, on
`sys.path`, as it puts each test's own folder for `harness.py` and `training_support.py`.)
"""

import os

import numpy as np
import pytest

REASON = ('Keras 3, the numerical oracle of this test, is not installed '
          '(`pip install -e ".[test]"` installs it)')


def require_keras(module="keras"):
    """Imports `module` (Keras or one of its submodules), or skips the calling test."""
    os.environ.setdefault("KERAS_BACKEND", "jax")  # as conftest.py: Keras runs on JAX
    return pytest.importorskip(module, reason=REASON)


def assert_close_trees(a, b, tol=1e-4):
    """Two pytrees (dicts, lists, arrays, floats, strings) hold the same values, numbers within
    `tol`: the comparison of the guide tests, whose programs return such trees (histories,
    predictions, decoded strings)."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), (sorted(a), sorted(b))
        for key in a:
            assert_close_trees(a[key], b[key], tol)
    elif isinstance(a, str):
        assert a == b, (a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (len(a), len(b))
        for u, v in zip(a, b):
            assert_close_trees(u, v, tol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=tol, rtol=tol)


class LazyModule:
    """A module imported on first attribute access, through `require_keras`."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name.startswith("_"):  # pytest's and Python's probes (fixture markers, dunders)
            raise AttributeError(name)  # import nothing; Keras's API has no such names
        return getattr(require_keras(self._module), name)

    def __dir__(self):  # `dir(kops)` lists Keras's names, as on the module
        return dir(require_keras(self._module))

    def __repr__(self):
        return f"<module {self._module!r}, imported on first use>"


keras = LazyModule("keras")
