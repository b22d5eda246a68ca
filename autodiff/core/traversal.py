"""Graph traversal without recursion: topological order and reachability, both linear."""
from .node import Node


def topo_sort(outputs, leaves=()):
    """All nodes that `outputs` depend on, children before parents, each once; the nodes
    in `leaves` are included but not looked through.

    Iterative depth-first search, so a chain of any depth works. A node is marked when it
    is first pushed; graphs are acyclic (nodes are immutable), so that is enough.
    """
    if isinstance(outputs, Node):
        outputs = [outputs]
    order, seen = [], set()
    stop = {id(n) for n in leaves}
    for root in outputs:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, 0)]
        while stack:
            node, i = stack[-1]
            children = () if id(node) in stop else node.children
            if i < len(children):
                stack[-1] = (node, i + 1)
                child = children[i]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def graph_size(outputs):
    """Number of distinct nodes that `outputs` depend on (themselves included)."""
    return len(topo_sort(outputs))
