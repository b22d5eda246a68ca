"""A node's notebook display: `notebook_bundle` returns the mime bundle Jupyter shows.

Contract: it never blocks for long. The picture is an SVG of the graph summarised to at
most `INLINE_MAX_NODES` boxes (see `fold`), and `dot` gets what is left of
`TIME_LIMIT` seconds (it is killed after that). When there is no picture (too large to
even summarise quickly, too slow to draw, or no `dot` program) the display is the text
``repr`` with a hint that says how to draw or list the graph.
"""
import time

from ..core.traversal import topo_sort
from .dot import RenderTimeout, render, to_dot

#: Boxes in the inline picture: a summary beyond this (a notebook cell is small).
INLINE_MAX_NODES = 60
#: Seconds the whole display may take.
TIME_LIMIT = 2.0
#: Graphs with more nodes than this are not drawn inline at all: folding them is linear,
#: but a notebook echoes every node it displays, so the display stays cheap.
MAX_INLINE_GRAPH = 20_000
#: Below this many seconds left, `dot` is not even started.
_MIN_RENDER_TIME = 0.1

_SVG = "image/svg+xml"


def notebook_bundle(node, include=None, exclude=None, time_limit=TIME_LIMIT):
    """The mime bundle for `node`: ``text/plain`` (its repr) and, when it can be drawn in
    time, ``image/svg+xml`` (its graph, summarised if large). `include`/`exclude` are
    Jupyter's: a picture nobody asked for is not drawn."""
    started = time.monotonic()
    text = repr(node)
    if not _wanted(_SVG, include, exclude):
        return {"text/plain": text}
    size = len(topo_sort(node)) if time_limit > 0 else 0
    if size > MAX_INLINE_GRAPH:
        return {"text/plain": _with_hint(text, size, f"over {MAX_INLINE_GRAPH} nodes")}
    try:
        dot = to_dot(node, max_nodes=INLINE_MAX_NODES)
        left = time_limit - (time.monotonic() - started)
        if left < _MIN_RENDER_TIME:
            raise RenderTimeout("no time left to draw")
        svg = render(dot, "svg", timeout=left).decode()
    except RenderTimeout:
        return {"text/plain": _with_hint(text, size, f"drawing took over {time_limit:g} s")}
    except RuntimeError as err:  # no `dot` program, or `dot` failed
        return {"text/plain": _with_hint(text, size, str(err).split(".")[0])}
    return {"text/plain": text, _SVG: svg}


def _wanted(mime, include, exclude):
    return (include is None or mime in include) and not (exclude and mime in exclude)


def _with_hint(text, size, reason):
    return (f"{text}\n(graph of {size} nodes, not drawn here: {reason}. "
            f"ad.plot_comp_graph(node, 'graph.svg') draws a summary; "
            f"ad.print_graph(node) lists every node.)")
