"""Graph pictures with graphviz: `to_dot` builds a `graphviz.Digraph`, `plot_comp_graph`
renders it to a file whose extension gives the format (png, svg, pdf, dot).

What the picture shows: Variables (blue ellipses), Constants (grey boxes with small
values inline), ops (white rounded boxes); nodes built by a gradient transform are orange
and carry the forward node they came from in their tooltip; module scopes are nested
clusters. Each label has the op, the node's name and its shape. Edges run from inputs to
the op, in argument order.
"""
import os
import tempfile

import graphviz
from graphviz import nohtml

from ..core.node import Node, Variable, Constant
from ..core.traversal import topo_sort
from ..ops.einsum import Einsum

DEFAULT_MAX_NODES = 400

_STYLE = {
    "variable": dict(shape="ellipse", style="filled", fillcolor="#cfe2f3", color="#3d6b99"),
    "constant": dict(shape="box", style="filled", fillcolor="#eeeeee", color="#999999",
                     fontsize="10"),
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#444444"),
    "derivative": dict(shape="box", style="rounded,filled", fillcolor="#fde5c8",
                       color="#c26a00"),
    "scope": dict(shape="box3d", style="filled", fillcolor="#e8f4e4", color="#4f8a3c"),
}


class GraphTooLargeError(ValueError):
    """The graph has more nodes than a picture can usefully show."""


def to_dot(nodes, max_nodes=DEFAULT_MAX_NODES, inputs=None, collapse_scopes=False):
    """A `graphviz.Digraph` of the graph computing `nodes` (a node or a list).

    `inputs`: draw only the nodes on paths from these nodes to the outputs.
    `collapse_scopes`: draw each outermost module scope as one box.
    `max_nodes`: refuse larger pictures (GraphTooLargeError says how to draw a part).
    """
    outputs = [nodes] if isinstance(nodes, Node) else list(nodes)
    order = topo_sort(outputs)
    if inputs is not None:
        order = _between(order, inputs)
    ident = {id(n): f"n{i}" for i, n in enumerate(order)}  # stable ids: topological index
    boxes = {}  # id(node) -> id of the collapsed scope box drawn in its place
    if collapse_scopes:
        for node in order:
            if node.scope:
                boxes[id(node)] = "scope_" + _safe(node.scope[0])
    drawn = {boxes.get(id(n), ident[id(n)]) for n in order}
    if len(drawn) > max_nodes:
        raise GraphTooLargeError(
            f"this graph has {len(drawn)} nodes, too many to draw usefully (max_nodes="
            f"{max_nodes}). Draw a part of it: pass inputs=[...] to draw only the nodes "
            f"between those inputs and the outputs, collapse_scopes=True to draw each module "
            f"as one box, or a larger max_nodes=; ad.print_graph(nodes) lists it as text.")
    dot = graphviz.Digraph("autodiff", graph_attr=dict(rankdir="BT", ordering="in",
                                                       fontname="Helvetica"),
                           node_attr=dict(fontname="Helvetica", fontsize="11"),
                           edge_attr=dict(color="#666666", arrowsize="0.7"))
    members = {}
    for node in order:
        key = () if collapse_scopes else tuple(node.scope)
        members.setdefault(key, []).append(node)
    _emit_clusters(dot, members, order, boxes, ident)
    for out in outputs:  # outputs get a heavy border
        if id(out) not in boxes and out in order:
            dot.node(ident[id(out)], penwidth="2.5")
    in_order = set(map(id, order))
    edges = set()
    for node in order:
        head = boxes.get(id(node), ident[id(node)])
        for i, child in enumerate(node.children):
            if id(child) not in in_order:
                continue
            tail = boxes.get(id(child), ident[id(child)])
            if tail == head or (tail, head, i) in edges:
                continue
            edges.add((tail, head, i))
            if len(node.children) > 1:  # argument position, for non-commutative ops
                dot.edge(tail, head, label=str(i), fontsize="9", fontcolor="#888888")
            else:
                dot.edge(tail, head)
    return dot


def _emit_clusters(dot, members, order, boxes, ident):
    """Add nodes to nested `cluster_` subgraphs following their scope paths."""
    scopes = sorted(members, key=len)
    tree = {}
    for scope in scopes:
        level = tree
        for part in scope:
            level = level.setdefault(part, {})

    def emit(graph, prefix, subtree):
        for node in members.get(prefix, []):
            if id(node) in boxes:
                continue
            graph.node(ident[id(node)], **_node_attrs(node))
        for part, child_tree in subtree.items():
            path = prefix + (part,)
            with graph.subgraph(name="cluster_" + _safe("/".join(path))) as sub:
                sub.attr(label=nohtml(part), style="rounded,dashed", color="#4f8a3c",
                         fontcolor="#2d5a1f")
                emit(sub, path, child_tree)

    emit(dot, (), tree)
    collapsed = {}
    for node in order:
        if id(node) in boxes:
            collapsed.setdefault(boxes[id(node)], []).append(node)
    for box, nodes in collapsed.items():
        dot.node(box, label=nohtml(f"{nodes[0].scope[0]}\n{len(nodes)} nodes"), **_STYLE["scope"])


def _node_attrs(node):
    name = f" {node.name}" if node.name else ""
    shape = f"\n{node.shape}" if node.shape else ""
    if isinstance(node, Variable):
        kind, label = "variable", f"{node.name or 'Variable'}{shape}"
    elif isinstance(node, Constant):
        kind = "constant"
        value = node.value
        label = (f"{value.item():.4g}" if value.size == 1 else
                 str(value.tolist()) if value.size <= 4 else f"const{shape}")
    else:
        kind = "derivative" if node.derivative_of is not None else "op"
        op = f"einsum {node.op_str}" if type(node) is Einsum else node.label
        label = f"{op}{name}{shape}"
    tooltip = repr(node)
    if node.derivative_of is not None:
        tooltip += f"\nderivative of {node.derivative_of!r}"
    # nohtml: a string like "<Add ...>" would otherwise be read as an HTML label
    return dict(_STYLE[kind], label=nohtml(label), tooltip=nohtml(tooltip))


def _between(order, inputs):
    """The nodes of `order` on a path from one of `inputs` (which are kept)."""
    reach = set(map(id, inputs))
    for node in order:
        if any(id(c) in reach for c in node.children):
            reach.add(id(node))
    return [n for n in order if id(n) in reach]


def _safe(text):
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def plot_comp_graph(nodes, path="comp_graph.png", view=False, **options):
    """Render the graph of `nodes` to `path` (format from the extension: png, svg, pdf or
    dot) and return the path. Opens a viewer only when ``view=True``. `options` go to
    `to_dot` (max_nodes, inputs, collapse_scopes)."""
    dot = to_dot(nodes, **options)
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    folder = os.path.dirname(os.path.abspath(path))
    if fmt in ("dot", "gv"):
        _write_atomically(path, dot.source.encode())
        return path
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(
            "rendering needs the graphviz 'dot' program, which is not installed. Install it "
            "with 'apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' "
            "(macOS); ad.to_dot, ad.pretty and ad.print_graph work without it.") from None
    except ValueError as err:  # unknown format
        raise ValueError(f"plot_comp_graph: cannot render format {fmt!r} ({err})") from None
    os.makedirs(folder, exist_ok=True)
    _write_atomically(path, data)
    if view:
        graphviz.view(path)
    return path


def _write_atomically(path, data):
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
