"""Core graph machinery: nodes, leaves, build context and traversal."""
from .node import Node, Variable, Constant, as_node, as_nodes
from .traversal import topo_sort, graph_size

__all__ = ["Node", "Variable", "Constant", "as_node", "as_nodes", "topo_sort", "graph_size"]
