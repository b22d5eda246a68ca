"""Graph traversal without recursion: topological order and reachability, both linear."""
from .node import Node


def topo_sort(outputs):
    """All nodes that `outputs` depend on, children before parents, each once.

    Iterative depth-first search, so a chain of any depth works.
    """
    if isinstance(outputs, Node):
        outputs = [outputs]
    order, done, on_stack = [], set(), set()
    for root in outputs:
        if id(root) in done:
            continue
        stack = [(root, iter(root.children))]
        on_stack.add(id(root))
        while stack:
            node, children = stack[-1]
            for child in children:
                if id(child) not in done and id(child) not in on_stack:
                    on_stack.add(id(child))
                    stack.append((child, iter(child.children)))
                    break
            else:
                stack.pop()
                on_stack.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def graph_size(outputs):
    """Number of distinct nodes that `outputs` depend on (themselves included)."""
    return len(topo_sort(outputs))
