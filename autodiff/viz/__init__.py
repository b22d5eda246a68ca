"""Pictures (graphviz) and text views of graphs.

Entry points: `to_dot` (the `graphviz.Digraph`), `plot_comp_graph` (render to a file),
`notebook_bundle` (a node's Jupyter display), `pretty`, `format_graph` and `print_graph`
(text). `Node.plot_comp_graph` and `Node._repr_mimebundle_` delegate to them.
"""
from .dot import (to_dot, plot_comp_graph, render, gradient_label, GraphTooLargeError,
                  RenderTimeout, DEFAULT_MAX_NODES)
from .notebook import notebook_bundle
from .text import pretty, format_graph, print_graph, node_repr

__all__ = ["to_dot", "plot_comp_graph", "render", "gradient_label", "GraphTooLargeError",
           "RenderTimeout", "DEFAULT_MAX_NODES", "notebook_bundle", "pretty", "format_graph",
           "print_graph", "node_repr"]
