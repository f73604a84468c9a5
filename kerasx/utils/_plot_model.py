"""`plot_model` / `model_to_dot`: a model's layer graph in Graphviz's DOT language.

The DOT text is written by kerasx itself. `model_to_dot` returns a `pydot.Dot`, so it needs
pydot (`pip install pydot`); `plot_model` renders with Graphviz's `dot` program (or, for a
`.dot` file, writes the text and needs nothing).
"""

import os
import shutil
import subprocess


__all__ = ["model_to_dot", "plot_model"]


def _shape_text(tensors):
    shapes = [tuple(t.shape) for t in tensors]
    text = lambda s: "(" + ", ".join("None" if d is None else str(d) for d in s) + \
        ("," if len(s) == 1 else "") + ")"
    return text(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(map(text, shapes)) + "]"


def _graph(model):
    """`(nodes, edges)`: one node per layer call, in topological order, with its layer,
    input and output tensors; edges `(i, j)` between node indices."""
    try:
        outputs = list(model.outputs)
    except Exception as e:  # a Sequential without a known input shape
        raise ValueError(
            f"Model '{model.name}' has not yet been built, so its graph is unknown. Build it "
            "first (give it an `Input`, or call it on a batch of data).") from e
    order, index, state = [], {}, {}

    def visit(t):
        node = t.node
        if node is None or state.get(id(node)) == 2:
            return
        state[id(node)] = 1
        for u in node.input_tensors:
            visit(u)
        state[id(node)] = 2
        index[id(node)] = len(order)
        order.append(node)

    for t in outputs:
        visit(t)
    edges = []
    for j, node in enumerate(order):
        for u in node.input_tensors:
            if u.node is not None and id(u.node) in index:
                edge = (index[id(u.node)], j)
                if edge not in edges:
                    edges.append(edge)
    return order, edges


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dot_source(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                rankdir="TB", dpi=200, show_layer_activations=False, show_trainable=False):
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"`rankdir` must be 'TB' (vertical) or 'LR' (horizontal). Received: "
                         f"rankdir={rankdir!r}")
    nodes, edges = _graph(model)
    lines = [f'digraph "{_escape(model.name)}" {{', f"  graph [rankdir={rankdir}, dpi={int(dpi)}, "
             'concentrate=true];', '  node [shape=record, fontname="Helvetica"];']
    for i, node in enumerate(nodes):
        layer = node.layer
        cls = type(layer).__name__
        title = f"{layer.name} ({cls})" if show_layer_names else cls
        parts = [title]
        activation = getattr(layer, "activation", None)
        if show_layer_activations and activation is not None:
            name = getattr(activation, "__name__", None) or type(activation).__name__
            parts.append(f"Activation: {name}")
        if show_shapes:
            inputs = node.input_tensors
            if inputs:
                parts.append(f"Input shape: {_shape_text(inputs)}")
            parts.append(f"Output shape: {_shape_text(node.output_tensors)}")
        if show_dtype:
            parts.append("Output dtype: " + ", ".join(t.dtype.name for t in node.output_tensors))
        if show_trainable:
            parts.append(f"Trainable: {'T' if getattr(layer, 'trainable', True) else 'F'}")
        label = "|".join(_escape(p).replace("{", "\\{").replace("}", "\\}")
                         .replace("<", "\\<").replace(">", "\\>") for p in parts)
        lines.append(f'  n{i} [label="{{{label}}}"];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, **kwargs):
    """Converts a model to a `pydot.Dot` graph (one node per layer call).

    Args:
        model: A built kerasx model (Sequential with an input shape, or functional).
        show_shapes: Whether to show the input/output shapes of each layer.
        show_dtype: Whether to show the output dtypes of each layer.
        show_layer_names: Whether to show layer names.
        rankdir: `"TB"` (vertical) or `"LR"` (horizontal).
        expand_nested: Not supported: nested models are drawn as one node (must be False).
        dpi: Image resolution in dots per inch.
        subgraph: Not supported (must be False).
        show_layer_activations: Whether to show the activations of layers that have one.
        show_trainable: Whether to show whether each layer is trainable.

    Returns:
        A `pydot.Dot` of the model's graph.

    Raises:
        ImportError: when pydot is not installed.
    """
    if expand_nested or subgraph:
        raise ValueError("kerasx's model_to_dot draws nested models as one node: "
                         "`expand_nested` and `subgraph` must be False.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    try:
        import pydot
    except ImportError as e:
        raise ImportError("You must install pydot (`pip install pydot`) for `model_to_dot` to "
                          "work. (`plot_model(model, 'model.dot')` writes the graph without "
                          "it.)") from e
    source = _dot_source(model, show_shapes, show_dtype, show_layer_names, rankdir, dpi,
                         show_layer_activations, show_trainable)
    return pydot.graph_from_dot_data(source)[0]


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=True, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, **kwargs):
    """Draws a model's layer graph to an image file.

    Args:
        model: A built kerasx model.
        to_file: File name of the plot; its extension picks the format ("png", "svg",
            "pdf", ...). A ".dot" file receives the Graphviz source and needs nothing
            installed; any other format needs Graphviz's `dot` program.
        show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
        show_layer_activations, show_trainable: As in `model_to_dot`.

    Returns:
        None (Keras returns an IPython image in notebooks).

    Raises:
        ImportError: when Graphviz's `dot` program is not installed (for formats other
            than ".dot").
    """
    if expand_nested:
        raise ValueError("kerasx's plot_model draws nested models as one node: "
                         "`expand_nested` must be False.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    source = _dot_source(model, show_shapes, show_dtype, show_layer_names, rankdir, dpi,
                         show_layer_activations, show_trainable)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension in ("dot", "gv"):
        with open(to_file, "w") as f:
            f.write(source)
        return None
    dot = shutil.which("dot")
    if dot is None:
        raise ImportError("You must install graphviz (see instructions at "
                          "https://graphviz.gitlab.io/download/) for `plot_model` to work: its "
                          "`dot` program was not found. (A '.dot' file name writes the graph "
                          "without it.)")
    result = subprocess.run([dot, f"-T{extension}", "-o", to_file], input=source.encode(),
                            capture_output=True)
    if result.returncode != 0:
        raise ValueError(f"Graphviz could not draw {to_file}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return None
