"""How much of Keras 3's public API kerasx has, module by module.

    python benchmarks/coverage.py            # the table, then the missing names of each module
    python benchmarks/coverage.py --markdown # the table as Markdown (for the README)

A name counts as present when `kerasx.<module>` has an attribute of that name (the row
"(top level)" compares `keras` itself with `kerasx`). The names below `EXCLUDED` are left out of
the totals, each with its reason (TensorFlow-only or Torch-only objects, Keras's private
implementation package). `layers` is split in two: the sequence issue's layers (recurrent, attention, masking,
text preprocessing) are counted on their own row.
"""

import argparse
import importlib
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MODULES = ["layers", "losses", "metrics", "optimizers", "optimizers.schedules", "activations",
           "initializers", "ops", "ops.nn", "ops.numpy", "ops.image", "ops.linalg", "random",
           "regularizers", "constraints", "callbacks", "datasets", "utils", "config", "saving",
           "models", "tree", "dtype_policies", "mixed_precision", "distribution", "backend", ""]

EXCLUDED = {
    "layers": {"TFSMLayer": "TensorFlow-only: loads a TensorFlow SavedModel",
               "TorchModuleWrapper": "Torch-only: wraps a torch.nn.Module"},
    "optimizers": {"legacy": "TensorFlow-only: tf.keras's legacy optimizers (Keras 3 raises on "
                             "every backend but TensorFlow)"},
    "utils": {"legacy": "TensorFlow-only: tf.keras's legacy h5/pickle helpers",
              "FeatureSpace": "TensorFlow-only: adapts and runs on tf.data datasets"},
    "": {"src": "Keras's private implementation package, not API (`keras.src`)"},
}

# The layers of the sequence-and-attention issue, counted on their own row.
SEQUENCE_LAYERS = {
    "RNN", "SimpleRNN", "SimpleRNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell", "StackedRNNCells",
    "Bidirectional", "TimeDistributed", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Masking",
    "MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
    "TextVectorization", "StringLookup", "IntegerLookup", "Hashing", "HashedCrossing",
    "CategoryEncoding",
}


def _public(module):
    return sorted(n for n in dir(module) if not n.startswith("_"))


def coverage():
    """Rows `(label, present, total, missing names)`, one per module (layers in two rows)."""
    rows = []
    for name in MODULES:
        theirs = importlib.import_module(f"keras.{name}" if name else "keras")
        try:
            ours = set(dir(importlib.import_module(f"kerasx.{name}" if name else "kerasx")))
        except ImportError:
            ours = set()
        names = [n for n in _public(theirs) if n not in EXCLUDED.get(name, {})]
        if name == "layers":
            groups = [("layers", [n for n in names if n not in SEQUENCE_LAYERS]),
                      ("layers (sequence issue)", [n for n in names if n in SEQUENCE_LAYERS])]
        else:
            groups = [(name or "(top level)", names)]
        for label, group in groups:
            missing = [n for n in group if n not in ours]
            rows.append((label, len(group) - len(missing), len(group), missing))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    import keras
    rows = coverage()
    present, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    if args.markdown:
        print(f"| module (Keras {keras.__version__}) | present / total | |")
        print("|---|---|---|")
        for label, have, of, _ in rows:
            print(f"| `{label}` | {have} / {of} | {100 * have / of:.0f}% |")
        print(f"| all | {present} / {total} | {100 * present / total:.0f}% |")
        return
    print(f"Keras {keras.__version__}'s public names in kerasx")
    for label, have, of, _ in rows:
        print(f"  {label:26s} {have:4d} / {of:4d}  {100 * have / of:5.1f}%")
    print(f"  {'all':26s} {present:4d} / {total:4d}  {100 * present / total:5.1f}%")
    for label, _, _, missing in rows:
        if missing:
            print(f"\nmissing from {label}: {' '.join(missing)}")
    print("\nleft out of the totals:")
    for module, names in EXCLUDED.items():
        for n, why in names.items():
            print(f"  {module + '.' if module else ''}{n}: {why}")


if __name__ == "__main__":
    main()
