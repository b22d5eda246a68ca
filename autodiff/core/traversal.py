"""Graph traversal without recursion: topological order and reachability, both linear."""
from .node import Node


def topo_sort(outputs, leaves=(), seen=None):
    """All nodes that `outputs` depend on, children before parents, each once; the nodes
    in `leaves` are included but not looked through. `seen`: a set of the ids of nodes
    ordered already (by an earlier call), which are neither returned nor looked through;
    the ids of the nodes returned are added to it.

    Iterative depth-first search, so a chain of any depth works. A node is marked when it
    is first pushed; graphs are acyclic (nodes are immutable), so that is enough.
    """
    if isinstance(outputs, Node):
        outputs = [outputs]
    order = []
    if seen is None:
        seen = set()
    stop = {id(n) for n in leaves}
    for root in outputs:
        if id(root) in seen:
            continue
        seen.add(id(root))
        # the path from the root, and beside it an iterator over each node's children
        # not yet looked at (an iterator resumes where it stopped: no index bookkeeping)
        path = [root]
        pending = [iter(() if id(root) in stop else root.children)]
        while path:
            for child in pending[-1]:
                if id(child) not in seen:
                    seen.add(id(child))
                    path.append(child)
                    pending.append(iter(() if id(child) in stop else child.children))
                    break
            else:
                pending.pop()
                order.append(path.pop())
    return order


def graph_size(outputs):
    """Number of distinct nodes that `outputs` depend on (themselves included)."""
    return len(topo_sort(outputs))
