"""Graph pictures with graphviz: `to_dot` builds a `graphviz.Digraph`, `plot_comp_graph`
renders it to a file whose extension gives the format (png, svg, pdf, dot).

What the picture shows: Variables (blue ellipses), Constants (grey boxes with small
values inline), ops (white rounded boxes); nodes built by a gradient transform are orange
and carry the forward node they came from in their tooltip; outputs have a heavy border,
and a gradient output (a node with a ``gradient_of`` attribute, set by `ad.grad`) is
labelled with what it differentiates (``d loss / d fc1.weight``). Module scopes are
nested clusters, and gradient nodes sit in mirrored clusters ``d <scope>`` beside the
forward scope they came from. Each label has the op, the node's name and its shape;
where an op's argument order matters, the edge carries the argument's position.

Large graphs. Up to `max_nodes` nodes the graph is drawn whole. A larger one is
summarised (see `fold`): repeated layers and time steps fold into one box each
(``"layers.3-39: Linear x37"``), scopes close from the inside out, and a caption says
what was folded and how to see more. This keeps `dot` within seconds and the picture
within a screen.

Why `dot` stays fast here (measured on a 253-node MLP gradient, see benchmarks/pictures.py):
edge labels become extra rank nodes in `dot`'s layout and made it 5-7 times slower
(3.0-4.3 s against 0.6 s), so argument positions are ``headlabel``s, placed after layout;
``ordering=in`` with clusters made `dot` 2.43 fail outright ("trouble in init_rank") on a
133-node gradient and is not used; clusters help rather than hurt (without them the same
graph took 3.2 s); and a PNG's time grows with its pixels, so a picture is capped at
`MAX_INCHES` a side.
"""
import os
import subprocess

import graphviz
from graphviz import nohtml

from ..core.files import write_atomically
from ..core.node import Node, Variable, Constant
from ..core.traversal import topo_sort
from ..ops.einsum import Einsum
from . import fold

#: Graphs with more nodes than this are summarised (folded) rather than drawn whole.
DEFAULT_MAX_NODES = 100
#: The largest side of a picture, in inches (at graphviz's 96 dpi: 2880 pixels);
#: larger layouts are scaled down to fit.
MAX_INCHES = 30
#: Seconds `plot_comp_graph` lets `dot` run before giving up with advice.
DEFAULT_TIMEOUT = 60
#: Formats `plot_comp_graph` renders (besides "dot"/"gv", the source itself).
FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "json", "plain")

_STYLE = {
    "variable": dict(shape="ellipse", style="filled", fillcolor="#cfe2f3", color="#3d6b99"),
    "constant": dict(shape="box", style="filled", fillcolor="#eeeeee", color="#999999",
                     fontsize="10"),
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#444444"),
    "derivative": dict(shape="box", style="rounded,filled", fillcolor="#fde5c8",
                       color="#c26a00"),
    "scope": dict(shape="box3d", style="filled", fillcolor="#e8f4e4", color="#4f8a3c"),
    "derivative scope": dict(shape="box3d", style="filled", fillcolor="#fde5c8",
                             color="#c26a00"),
    "band": dict(shape="note", style="filled", fillcolor="#f4f4f4", color="#777777"),
}
_CLUSTER = dict(style="rounded,dashed", color="#4f8a3c", fontcolor="#2d5a1f")
_DERIVATIVE_CLUSTER = dict(style="rounded,dashed", color="#c26a00", fontcolor="#8a4b00")


class GraphTooLargeError(ValueError):
    """The graph has more nodes than a picture can usefully show."""


class RenderTimeout(RuntimeError):
    """graphviz's `dot` did not finish in the time allowed."""


def to_dot(nodes, max_nodes=DEFAULT_MAX_NODES, inputs=None, collapse_scopes=False,
           collapse_depth=None, summarize=True):
    """A `graphviz.Digraph` of the graph computing `nodes` (a node or a list of nodes).

    `max_nodes`: the most boxes drawn. A larger graph is summarised: repeated layers and
    time steps fold into one box each and module scopes close from the inside out until
    it fits; a caption lists what was folded. With ``summarize=False`` a larger graph is
    refused instead (GraphTooLargeError says how to draw a part of it).
    `inputs`: draw only the nodes on paths from these nodes to the outputs.
    `collapse_depth=k`: draw every module scope k levels deep as one box (1: each
    outermost module is one box); ``collapse_scopes=True`` is ``collapse_depth=1``.
    """
    outputs = as_outputs(nodes, "to_dot")
    order = topo_sort(outputs)
    if inputs is not None:
        order = _between(order, inputs)
    if collapse_scopes and collapse_depth is None:
        collapse_depth = 1
    if collapse_depth is not None and (not isinstance(collapse_depth, int)
                                       or collapse_depth < 1):
        raise ValueError(f"to_dot: collapse_depth must be a positive integer (1: each "
                         f"outermost module as one box), got {collapse_depth!r}")
    if not summarize and len(order) > max_nodes:
        raise GraphTooLargeError(
            f"this graph has {len(order)} nodes, too many to draw usefully (max_nodes="
            f"{max_nodes}). Let it summarise (summarize=True, the default), or draw a part "
            f"of it: pass inputs=[...] to draw only the nodes between those inputs and the "
            f"outputs, collapse_scopes=True to draw each module as one box, or a larger "
            f"max_nodes=; ad.print_graph(nodes) lists it as text.")
    picture = fold.plan(order, outputs, max_nodes, collapse_depth)
    dot = graphviz.Digraph("autodiff", graph_attr=_graph_attrs(picture),
                           node_attr=dict(fontname="Helvetica", fontsize="11"),
                           edge_attr=dict(color="#666666", arrowsize="0.7"))
    ident = {id(n): f"n{i}" for i, n in enumerate(order)}  # stable ids: topological index
    _emit_groups(dot, picture, ident, set(map(id, outputs)))
    _emit_edges(dot, order, picture, ident)
    if picture.folded:
        dot.attr(label=nohtml(_caption(picture, len(order), max_nodes)), labelloc="t",
                 labeljust="l", fontsize="12")
    return dot


def as_outputs(nodes, caller):
    """`nodes` (a node or an iterable of nodes) as a list; raises naming what was given."""
    if isinstance(nodes, Node):
        return [nodes]
    try:
        outputs = list(nodes)
    except TypeError:
        raise TypeError(f"{caller}: expected a node or a list of nodes, got "
                        f"{type(nodes).__name__} {nodes!r}") from None
    bad = [o for o in outputs if not isinstance(o, Node)]
    if bad or not outputs:
        what = (f"{type(bad[0]).__name__} {bad[0]!r} at position {outputs.index(bad[0])}"
                if bad else "an empty list")
        raise TypeError(f"{caller}: expected a node or a non-empty list of nodes, got {what}")
    return outputs


def _between(order, inputs):
    """The nodes of `order` on a path from one of `inputs` (which are kept)."""
    inputs = [inputs] if isinstance(inputs, Node) else list(inputs)
    present = set(map(id, order))
    for node in inputs:
        if not isinstance(node, Node):
            raise TypeError(f"inputs=: expected nodes, got {type(node).__name__} {node!r}")
        if id(node) not in present:
            raise ValueError(f"inputs=: {node!r} is not in the graph of the outputs; pass "
                             f"nodes that the outputs depend on")
    reach = set(map(id, inputs))
    for node in order:
        if any(id(c) in reach for c in node.children):
            reach.add(id(node))
    return [n for n in order if id(n) in reach]


def _graph_attrs(picture):
    attrs = dict(rankdir="BT", fontname="Helvetica", size=f"{MAX_INCHES},{MAX_INCHES}")
    if picture.folded:  # a summary is dense already: tighter spacing keeps it on screen
        attrs.update(ranksep="0.35", nodesep="0.2")
    return attrs


def _emit_groups(dot, picture, ident, outputs):
    """Nodes and folded boxes, inside nested `cluster_` subgraphs following the groups."""
    names = set()

    def emit(graph, group):
        for node in picture.visible_members(group):
            graph.node(ident[id(node)], **_node_attrs(node, id(node) in outputs))
        for box in picture.boxes_in(group):
            graph.node(box.ident, **_box_attrs(box))
        for child in picture.open_children(group):
            name = "cluster_" + fold._safe("/".join(child.key))
            while name in names:  # two scope paths may sanitise alike
                name += "_"
            names.add(name)
            with graph.subgraph(name=name) as sub:
                sub.attr(label=nohtml(child.label),
                         **(_DERIVATIVE_CLUSTER if child.derivative else _CLUSTER))
                emit(sub, child)

    emit(dot, picture.root)


def _emit_edges(dot, order, picture, ident):
    """One edge per (drawn tail, drawn head, argument position), inputs to ops."""
    in_order = set(ident)

    def drawn(node):
        box = picture.owner.get(id(node))
        return box.ident if box is not None else ident[id(node)]

    edges = set()
    for node in order:
        head = drawn(node)
        positional = len(node.children) > 1 and not node.commutative \
            and id(node) not in picture.owner
        for i, child in enumerate(node.children):
            if id(child) not in in_order:
                continue
            tail = drawn(child)
            position = i if positional else None
            if tail == head or (tail, head, position) in edges:
                continue
            edges.add((tail, head, position))
            if position is None:
                dot.edge(tail, head)
            else:  # a head label is placed after layout: free, unlike an edge label
                dot.edge(tail, head, headlabel=str(i), fontsize="9", fontcolor="#888888")


def _node_attrs(node, is_output=False):
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
    tooltip = _plain(node)  # not repr: its expression would repeat the picture's text
    if node.derivative_of is not None:
        tooltip += f"\nderivative of {_plain(node.derivative_of)}"
    attrs = dict(_STYLE[kind])
    if is_output:
        attrs["penwidth"] = "2.5"
        meaning = gradient_label(node)
        if meaning:
            label = f"{meaning}\n{label}"
            tooltip += "\n" + meaning
    # nohtml: a string like "<Add ...>" would otherwise be read as an HTML label
    attrs.update(label=nohtml(label), tooltip=nohtml(tooltip))
    return attrs


def _plain(node):
    """``<Add z shape=(2, 3) float64>``: op, name, shape and dtype."""
    name = f" {node.name}" if node.name else ""
    return f"<{type(node).__name__}{name} shape={node.shape} {node.dtype}>"


def gradient_label(node):
    """``"d loss / d fc1.weight"`` for a node that `ad.grad` returned (its ``gradient_of``
    attribute: (y, w) pairs), else ``""``."""
    return fold.gradient_text(node)


def _box_attrs(box):
    lines = [box.label, fold.plural(len(box.nodes), "node")]
    if box.kind == "band":
        lines.append(fold.content_summary(box.nodes))
    if box.outputs:
        gradients = sum(1 for n in box.nodes if getattr(n, "gradient_of", ()))
        lines.append(fold.plural(box.outputs, "output")
                     + (f" ({gradients} gradients)" if gradients else ""))
    style = "band" if box.kind == "band" else \
        "derivative scope" if box.derivative else "scope"
    attrs = dict(_STYLE[style], label=nohtml("\n".join(lines)),
                 tooltip=nohtml(f"{box.label}: {fold.content_summary(box.nodes, 6)}"))
    if box.kind == "run":
        attrs["peripheries"] = "2"  # a run stands for several copies of one pattern
    if box.outputs:
        attrs["penwidth"] = "2.5"
    return attrs


def _caption(picture, size, max_nodes, limit=8):
    """What the summary folded, and how to see more."""
    lines = [f"Summary: {size} nodes drawn as {picture.drawn_count()} boxes "
             f"(max_nodes={max_nodes}). Folded:"]
    lines += [f"  {note}" for note in picture.notes[:limit]]
    if len(picture.notes) > limit:
        lines.append(f"  ... and {len(picture.notes) - limit} more boxes")
    lines.append("More detail: a larger max_nodes=, collapse_depth=, or inputs=[...] for a "
                 "part; ad.print_graph lists every node.")
    return "\\l".join(lines) + "\\l"  # in graphviz labels a backslash-l ends a left-aligned line


def render(dot, fmt, timeout=None):
    """Run graphviz's `dot` on `dot` (a Digraph or its source) and return the `fmt` bytes.

    Raises RenderTimeout after `timeout` seconds (the `dot` process is killed), and
    RuntimeError when `dot` is missing or fails.
    """
    source = dot if isinstance(dot, str) else dot.source
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=timeout)
    except FileNotFoundError:
        raise RuntimeError(
            "rendering needs the graphviz 'dot' program, which is not installed. Install it "
            "with 'apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' "
            "(macOS); ad.to_dot, ad.pretty and ad.print_graph work without it.") from None
    except subprocess.TimeoutExpired:
        raise RenderTimeout(
            f"graphviz's dot did not finish within {timeout} s. Draw less: a smaller "
            f"max_nodes= (the picture then folds more), collapse_depth=1, or inputs=[...] "
            f"for a part; or allow more time with timeout=.") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()[:3]
        raise RuntimeError(f"graphviz's dot failed (exit {done.returncode}): "
                           f"{' '.join(message)}")
    return done.stdout


def plot_comp_graph(nodes, path="comp_graph.png", view=False, timeout=DEFAULT_TIMEOUT,
                    **options):
    """Render the graph of `nodes` to `path` and return the path.

    The format comes from the extension: png, svg, pdf (or dot/gv: the graphviz source).
    Missing folders are created, and the file is replaced atomically. Opens a viewer only
    when ``view=True``. `timeout`: seconds allowed to `dot`. `options` go to `to_dot`
    (max_nodes, inputs, collapse_depth, collapse_scopes, summarize).
    """
    dot = to_dot(as_outputs(nodes, "plot_comp_graph"), **options)
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    if fmt in ("dot", "gv"):
        write_atomically(path, dot.source.encode())
        return path
    if fmt not in FORMATS:
        raise ValueError(f"plot_comp_graph: cannot render format {fmt!r} (from {path!r}); "
                         f"use one of {', '.join(FORMATS)} or dot")
    write_atomically(path, render(dot, fmt, timeout))
    if view:
        graphviz.view(path)
    return path
