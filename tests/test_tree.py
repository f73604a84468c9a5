"""`kerasx.tree` against Keras 3's `keras.tree` on the same nested structures."""

import collections

import numpy as np
import pytest

import kerasx
from keras_oracle import require_keras

tree = kerasx.tree
Foo = collections.namedtuple("Foo", ["b", "a"])
Bar = collections.namedtuple("Bar", ["b", "a"])

STRUCTURES = [
    1,
    None,
    [],
    {},
    (1, None, "s"),
    [1, [2, (3, 4)], {"b": 5, "a": 6}],
    {"z": [1, (2, None)], "a": {"y": Foo(3, [4]), "x": ()},
     "m": collections.OrderedDict([("q", 5), ("p", 6)])},
    collections.defaultdict(list, {"k2": np.ones(2), "k1": [None, 7]}),
    Foo(b={"d": 1, "c": [2, 3]}, a=None),
]


@pytest.fixture(scope="module")
def ktree():
    return require_keras("keras.tree")


def _same(a, b):
    """Equal values, types and dict key orders, recursively (arrays compared by value)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("structure", STRUCTURES)
def test_flatten_and_paths_match_keras(ktree, structure):
    _same(tree.flatten(structure), ktree.flatten(structure))
    _same(tree.flatten_with_path(structure), ktree.flatten_with_path(structure))
    assert tree.is_nested(structure) == ktree.is_nested(structure)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_map_pack_and_lists_to_tuples_match_keras(ktree, structure):
    fn = lambda x: ("leaf", x is None)  # noqa: E731
    _same(tree.map_structure(fn, structure), ktree.map_structure(fn, structure))
    _same(tree.map_structure(lambda x: x, structure, none_is_leaf=False),
          ktree.map_structure(lambda x: x, structure, none_is_leaf=False))
    flat = list(range(len(ktree.flatten(structure))))
    _same(tree.pack_sequence_as(structure, flat), ktree.pack_sequence_as(structure, flat))
    _same(tree.lists_to_tuples(structure), ktree.lists_to_tuples(structure))


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("top_down", [True, False])
def test_traverse_visits_as_keras(ktree, structure, top_down):
    ours, theirs = [], []
    tree.traverse(ours.append, structure, top_down=top_down)
    ktree.traverse(theirs.append, structure, top_down=top_down)
    _same(ours, theirs)

    def cut(x):  # replace tuples by MAP_TO_NONE, lists by their length
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return tree.MAP_TO_NONE if x is not None else None
        return len(x) if isinstance(x, list) else None

    def kcut(x):
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return ktree.MAP_TO_NONE
        return len(x) if isinstance(x, list) else None

    _same(tree.traverse(cut, structure, top_down=top_down),
          ktree.traverse(kcut, structure, top_down=top_down))


def test_map_shape_structure_and_up_to_match_keras(ktree):
    shapes = {"x": (None, 3), "y": [(2,), [4, None]], "z": ()}
    _same(tree.map_shape_structure(lambda s: ("shape", tuple(s)), shapes),
          ktree.map_shape_structure(lambda s: ("shape", tuple(s)), shapes))
    shallow = {"a": 0, "b": [0, 0]}
    deep = {"a": [1, 2], "b": [{"c": 3}, (4, 5)]}
    _same(tree.map_structure_up_to(shallow, lambda x: x, deep),
          ktree.map_structure_up_to(shallow, lambda x: x, deep))


PAIRS = [
    ([1, 2], [3, 4]),
    ([1, 2], (3, 4)),                       # list vs tuple: different structures
    ({"a": 1, "b": 2}, collections.OrderedDict([("b", 3), ("a", 4)])),  # dict-likes match
    ({"a": 1}, {"b": 1}),                   # different keys
    (Foo(1, 2), Bar(1, 2)),                 # two namedtuple classes
    (Foo(1, 2), Foo(3, 4)),
    ([1, [2]], [1, 2]),                     # nested vs leaf
    ([None], [1]),
    ([1, 2], [1, 2, 3]),
]


@pytest.mark.parametrize("a,b", PAIRS)
def test_structure_checks_agree_with_keras(ktree, a, b):
    def outcome(fn):
        try:
            fn(a, b)
            return "ok"
        except ValueError:
            return "ValueError"
        except TypeError:
            return "TypeError"

    assert outcome(tree.assert_same_structure) == outcome(ktree.assert_same_structure)
    assert outcome(tree.assert_same_paths) == outcome(ktree.assert_same_paths)
    assert outcome(lambda x, y: tree.map_structure(lambda *v: 0, x, y)) == \
        outcome(lambda x, y: ktree.map_structure(lambda *v: 0, x, y))


def test_map_structure_of_several_follows_the_first_type(ktree):
    a, b = {"b": 1, "a": 2}, collections.OrderedDict([("a", 10), ("b", 20)])
    _same(tree.map_structure(lambda x, y: x + y, a, b),
          ktree.map_structure(lambda x, y: x + y, a, b))


def test_errors():
    with pytest.raises(ValueError, match="at least one structure"):
        tree.map_structure(lambda x: x)
    with pytest.raises(TypeError, match="callable"):
        tree.map_structure(3, [1])
    with pytest.raises(ValueError, match="2 leaves but `flat_sequence` has 3"):
        tree.pack_sequence_as([1, 2], [1, 2, 3])
    with pytest.raises(TypeError, match="must be a sequence"):
        tree.pack_sequence_as([1], 5)
    with pytest.raises(ValueError, match="Paths in `a` missing in `b`"):
        tree.assert_same_paths({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure([1, 2], (1, 2))
