"""Pictures (graphviz) and text views of graphs."""
from .dot import to_dot, plot_comp_graph, GraphTooLargeError, DEFAULT_MAX_NODES
from .text import pretty, print_graph

__all__ = ["to_dot", "plot_comp_graph", "GraphTooLargeError", "DEFAULT_MAX_NODES", "pretty",
           "print_graph", "notebook_bundle"]


def notebook_bundle(node, include=None, exclude=None):
    """Jupyter's view of a node: its graph picture (SVG), or text if it cannot be drawn."""
    bundle = {"text/plain": repr(node)}
    try:
        bundle["image/svg+xml"] = to_dot(node).pipe(format="svg").decode()
    except Exception:  # too large, or no 'dot' program: the text form stands alone
        pass
    return bundle
