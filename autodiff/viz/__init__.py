"""Pictures (graphviz) and text views of graphs, and the methods they add to `Node`.

Entry points: `to_dot` (the `graphviz.Digraph`), `plot_comp_graph` (render to a file),
`notebook_bundle` (a node's Jupyter display), `pretty`, `format_graph` and `print_graph`
(text). `Node.plot_comp_graph` and `Node._repr_mimebundle_` delegate to them.
"""
from .dot import (to_dot, plot_comp_graph, render, gradient_label, GraphTooLargeError,
                  RenderTimeout, DEFAULT_MAX_NODES)
from .notebook import notebook_bundle
from .text import pretty, format_graph, print_graph
from ..core.node import Node


def _plot_method(self, path="comp_graph.png", view=False, **options):
    """Render this node's graph to `path` (png, svg, pdf or dot); see ad.plot_comp_graph."""
    return plot_comp_graph(self, path, view=view, **options)


def _repr_mimebundle_(self, include=None, exclude=None):
    """Jupyter shows a node as its graph picture, or as text with a hint (never slowly)."""
    return notebook_bundle(self, include, exclude)


# Until core/node.py defines these two methods as the same one-line delegations.
if "plot_comp_graph" not in vars(Node):
    Node.plot_comp_graph = _plot_method
if "_repr_mimebundle_" not in vars(Node):
    Node._repr_mimebundle_ = _repr_mimebundle_
