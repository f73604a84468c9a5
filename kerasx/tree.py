"""Nested structures (`kerasx.tree`, Keras 3's `keras.tree`): flatten, map and repack them.

A structure is a leaf, or a list, tuple, namedtuple or dict (also `OrderedDict`,
`defaultdict`) of structures, or another container registered as a JAX pytree node. The rules
are Keras's (which kerasx reaches through `jax.tree_util`):

- `None` is a leaf (`map_structure(..., none_is_leaf=False)` leaves it out);
- dicts are visited in sorted key order (an `OrderedDict` in its own order), and repacked dicts
  keep the key order of the structure they were packed into;
- for two structures to match, each level must be of the same type and have the same keys,
  except that `dict`, `OrderedDict` and `defaultdict` match one another; `list` and `tuple`
  do not, nor do two namedtuple classes.

    flat = kerasx.tree.flatten({"b": [1, 2], "a": None})       # [None, 1, 2]
    kerasx.tree.map_structure(lambda x: x * 2, {"a": (1, 2)})  # {"a": (2, 4)}
"""

import collections
from typing import Any, Callable, List, Optional, Tuple

from jax import tree_util as _jtu

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
           "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
           "map_structure", "map_structure_up_to", "pack_sequence_as", "traverse"]


class MAP_TO_NONE:
    """Special value for use with `traverse()`: replaces the visited sub-structure by None."""


_MISMATCH = "Structures don't have the same nested structure."


# ----------------------------------------------------------------------------- one level
class _Node:
    """One level of a structure: its keys (in visiting order), children and a rebuild."""

    __slots__ = ("value", "keys", "children", "treedef")

    def __init__(self, value, keys, children, treedef):
        self.value, self.keys, self.children, self.treedef = value, keys, children, treedef

    def kind(self):
        """What two levels must share to match: dict-likes all match one another."""
        if isinstance(self.value, dict):
            return dict
        return type(self.value)

    def rebuild(self, children):
        out = _jtu.tree_unflatten(self.treedef, list(children))
        value = self.value
        if isinstance(value, dict) and not isinstance(value, collections.OrderedDict):
            # keep the structure's own key order (JAX rebuilds plain dicts in sorted order)
            items = [(k, out[k]) for k in value]
            if isinstance(value, collections.defaultdict):
                return collections.defaultdict(value.default_factory, items)
            return type(value)(items) if type(value) is dict else out
        return out


def _key(entry, position: int):
    if isinstance(entry, _jtu.DictKey):
        return entry.key
    if isinstance(entry, _jtu.SequenceKey):
        return entry.idx
    if isinstance(entry, _jtu.FlattenedIndexKey):
        return entry.key
    if isinstance(entry, _jtu.GetAttrKey):
        return position  # namedtuples: Keras's paths are the field positions
    return position


def _node(x, none_is_leaf: bool = True) -> Optional[_Node]:
    """The level `x` opens, or None if `x` is a leaf."""
    if x is None and none_is_leaf:
        return None
    pairs, treedef = _jtu.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        return None
    keys = [_key(path[0], i) for i, (path, _) in enumerate(pairs)]
    return _Node(x, keys, [child for _, child in pairs], treedef)


def _children_like(node: _Node, other) -> List[Any]:
    """The children of `other` in `node`'s order; a ValueError unless `other` opens a level of
    the same kind with the same keys."""
    other_node = _node(other)
    if other_node is None or other_node.kind() is not node.kind():
        raise ValueError(f"{_MISMATCH} Received: a {type(node.value).__name__} and a "
                         f"{type(other).__name__}")
    if isinstance(node.value, dict):
        if set(other_node.keys) != set(node.keys):
            raise ValueError(f"{_MISMATCH} The dicts have different keys: "
                             f"{sorted(map(str, node.keys))} and "
                             f"{sorted(map(str, other_node.keys))}")
        lookup = dict(zip(other_node.keys, other_node.children))
        return [lookup[k] for k in node.keys]
    if len(other_node.children) != len(node.children):
        raise ValueError(f"{_MISMATCH} A {type(node.value).__name__} of "
                         f"{len(node.children)} items and one of {len(other_node.children)}.")
    return list(other_node.children)


# ----------------------------------------------------------------------------- queries
def is_nested(structure) -> bool:
    """Whether `structure` is a container (list, tuple, dict, ...), not a leaf.

    Args:
        structure: any value.

    Returns:
        True for containers (also empty ones), False for leaves (`None` included).
    """
    return _node(structure) is not None


def flatten(structure) -> List[Any]:
    """The leaves of a structure, in Keras's order (dicts by sorted key), as a list.

    Args:
        structure: an arbitrarily nested structure.

    Returns:
        A list of its leaves; `[structure]` for a leaf.
    """
    out: List[Any] = []

    def visit(x):
        node = _node(x)
        if node is None:
            out.append(x)
        else:
            for child in node.children:
                visit(child)

    visit(structure)
    return out


def flatten_with_path(structure) -> List[Tuple[tuple, Any]]:
    """`(path, leaf)` pairs; a path is the tuple of keys (dict keys, sequence indices) to a leaf.

    Args:
        structure: an arbitrarily nested structure.

    Returns:
        A list of `(path, leaf)` in the order of `flatten`.
    """
    out: List[Tuple[tuple, Any]] = []

    def visit(x, path):
        node = _node(x)
        if node is None:
            out.append((path, x))
        else:
            for key, child in zip(node.keys, node.children):
                visit(child, path + (key,))

    visit(structure, ())
    return out


def _paths(structure):
    return {path for path, _ in flatten_with_path(structure)}


# ----------------------------------------------------------------------------- mapping
def map_structure(func: Callable, *structures, none_is_leaf: bool = True):
    """Applies `func` to the leaves of one or more structures of the same layout.

    Args:
        func: a callable taking one argument per structure.
        *structures: structures of the same layout (see the module docstring for what matches).
        none_is_leaf: whether `func` is called on `None` (True) or `None` is returned as is.

    Returns:
        A structure of the layout of the first one holding `func`'s results.
    """
    if not structures:
        raise ValueError("Must provide at least one structure")
    if not callable(func):
        raise TypeError(f"`func` must be callable. Received: func={func!r}")

    def visit(xs):
        first = xs[0]
        if first is None and not none_is_leaf:
            if any(x is not None for x in xs[1:]):
                raise ValueError(f"{_MISMATCH} Received: None and "
                                 f"{[type(x).__name__ for x in xs[1:]]}")
            return None
        node = _node(first)
        if node is None:
            if any(_node(x) is not None for x in xs[1:]):
                raise ValueError(f"{_MISMATCH} A leaf ({type(first).__name__}) faces a "
                                 "nested structure.")
            return func(*xs)
        columns = [node.children] + [_children_like(node, x) for x in xs[1:]]
        return node.rebuild([visit(list(group)) for group in zip(*columns)]
                            if node.children else [])

    return visit(list(structures))


def map_structure_up_to(shallow_structure, func: Callable, *structures):
    """Like `map_structure`, down to the leaves of `shallow_structure` only: `func` receives
    the (possibly nested) sub-structures of `structures` found there.

    Args:
        shallow_structure: a structure that each of `structures` extends.
        func: a callable taking one argument per structure in `structures`.
        *structures: structures whose upper levels are laid out as `shallow_structure`.

    Returns:
        A structure of the layout of `shallow_structure`.
    """
    if not structures:
        raise ValueError("Must provide at least one structure")

    def visit(shallow, xs):
        node = _node(shallow)
        if node is None:
            return func(*xs)
        columns = [_children_like(node, x) for x in xs]
        return node.rebuild([visit(child, list(group))
                             for child, group in zip(node.children, zip(*columns))]
                            if node.children else [])

    return visit(shallow_structure, list(structures))


def map_shape_structure(func: Callable, structure):
    """`map_structure` where tuples and lists of ints and Nones count as leaves (shapes).

    Args:
        func: a callable applied to each shape (and each other leaf).
        structure: an arbitrarily nested structure of shapes.

    Returns:
        The structure with `func` applied to each shape.
    """

    def is_shape(x):
        return isinstance(x, (list, tuple)) and all(
            isinstance(e, (int, type(None))) for e in x)

    def visit(x):
        if is_shape(x):
            return func(x)
        node = _node(x)
        if node is None:
            return func(x)
        return node.rebuild([visit(child) for child in node.children])

    return visit(structure)


def traverse(func: Callable, structure, top_down: bool = True):
    """Visits every sub-structure (depth first), replacing those for which `func` returns a
    value.

    Top down, a non-None result replaces the sub-structure and stops the descent into it;
    bottom up, children are visited first and a non-None result replaces the (already
    traversed) sub-structure. Return `MAP_TO_NONE` to replace a sub-structure by None.

    Args:
        func: a callable of one sub-structure.
        structure: the structure to traverse.
        top_down: whether parents are visited before their children.

    Returns:
        The traversed structure.
    """
    if not callable(func):
        raise TypeError(f"`func` must be callable. Received: func={func!r}")

    def children_of(x):
        node = _node(x)
        if node is None:
            return x
        return node.rebuild([visit(child) for child in node.children])

    def visit(x):
        if top_down:
            ret = func(x)
            if ret is None:
                return children_of(x)
        else:
            x = children_of(x)
            ret = func(x)
            if ret is None:
                return x
        return None if ret is MAP_TO_NONE else ret

    return visit(structure)


def lists_to_tuples(structure):
    """The structure with every list turned into a tuple.

    Args:
        structure: an arbitrarily nested structure.

    Returns:
        The same structure with tuples in place of lists.
    """
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure,
                    top_down=False)


# ----------------------------------------------------------------------------- checks, packing
def assert_same_structure(a, b, check_types=None) -> None:
    """Raises a ValueError unless `a` and `b` are nested the same way (leaves may differ).

    Args:
        a: a structure.
        b: a structure.
        check_types: deprecated in Keras and without effect.
    """
    map_structure(lambda *_: None, a, b)


def assert_same_paths(a, b) -> None:
    """Raises a ValueError unless `a` and `b` have the same leaf paths (container types may
    differ: a list matches a tuple).

    Args:
        a: a structure.
        b: a structure.
    """
    a_paths, b_paths = _paths(a), _paths(b)
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure, flat_sequence):
    """Packs a flat sequence of leaves into the layout of `structure` (the inverse of
    `flatten`).

    Args:
        structure: an arbitrarily nested structure.
        flat_sequence: its leaves, in the order of `flatten(structure)`.

    Returns:
        `flat_sequence` in the layout of `structure`.
    """
    try:
        flat = list(flat_sequence)
    except TypeError:
        raise TypeError("`flat_sequence` must be a sequence. Received: "
                        f"flat_sequence={flat_sequence!r}") from None
    leaves = flatten(structure)
    if len(flat) != len(leaves):
        raise ValueError(
            f"The structure has {len(leaves)} leaves but `flat_sequence` has {len(flat)} "
            f"elements. Received: structure={structure!r}, flat_sequence={flat_sequence!r}")
    items = iter(flat)

    def visit(x):
        node = _node(x)
        if node is None:
            return next(items)
        return node.rebuild([visit(child) for child in node.children])

    return visit(structure)
