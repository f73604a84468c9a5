"""Paths into nested dicts of arrays (a model's params / state): read one entry, or copy the
tree with one entry replaced. Shared by the layer tree and the savers."""


def get_path(tree, path):
    """The entry of nested dict `tree` at the key sequence `path`."""
    for p in path:
        tree = tree[p]
    return tree


def set_path(tree, path, value):
    """A copy of nested dict `tree` with the entry at `path` set to `value`."""
    if not path:
        return value
    out = dict(tree)
    out[path[0]] = set_path(tree[path[0]], path[1:], value)
    return out
