"""Pictures (graphviz) and text views of graphs, and the methods they add to `Node`."""
from .dot import to_dot, plot_comp_graph, GraphTooLargeError, DEFAULT_MAX_NODES
from .text import pretty, print_graph
from ..core.node import Node


def _plot_method(self, path="comp_graph.png", view=False, **options):
    """Render this node's graph to `path` (png, svg, pdf or dot); see ad.plot_comp_graph."""
    return plot_comp_graph(self, path, view=view, **options)


def _repr_mimebundle_(self, include=None, exclude=None):
    """Jupyter shows a node as its graph picture (SVG), or as text if it cannot be drawn."""
    bundle = {"text/plain": repr(self)}
    try:
        bundle["image/svg+xml"] = to_dot(self).pipe(format="svg").decode()
    except Exception:  # too large, or no 'dot' program: the text form stands alone
        pass
    return bundle


Node.plot_comp_graph = _plot_method
Node._repr_mimebundle_ = _repr_mimebundle_
