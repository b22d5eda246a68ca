"""The same graph for inputs of new shapes: shape rules re-applied, derivatives re-derived.

A graph's shapes are fixed when it is built. To run it on inputs of other shapes (the
smaller last batch of an epoch, a longer sequence), `reinfer` builds the graph again on
new input Variables: every op is applied to its rebuilt operands (`Node.with_children`,
which infers shape and dtype again and raises the usual build-time error where the new
shapes do not fit), and every node a transformation returned (`grad`, `jvp`, `simplify`,
...; see core/derivation.py) is made by running that transformation again on the rebuilt
arguments. Parameters and constants are shared with the original graph.
"""
from ..core.derivation import at_path
from ..core.node import Node


def reinfer(outputs, replacements):
    """`outputs` (a list of nodes) rebuilt with the Variables in `replacements` (a dict
    old Variable -> new Variable of another shape) in place of the old ones."""
    mapped = {id(old): new for old, new in replacements.items()}
    calls = {}  # id(derived_by record) -> the transformation's result on rebuilt arguments
    for node in _dependency_order(outputs, mapped):
        if id(node) in mapped:
            continue
        if node.derived_by is not None:
            transform, args, kwargs, path = node.derived_by
            key = id(node.derived_by)
            if key not in calls:
                calls[key] = transform(*_rebuilt(args, mapped), **_rebuilt(kwargs, mapped))
            mapped[id(node)] = at_path(calls[key], path)
        elif not node.children:
            mapped[id(node)] = node  # a parameter or a constant: shared
        elif node.derivative_of is not None:
            raise ValueError(
                f"cannot rebuild {node!r} for new input shapes: it is a part of a derivative "
                f"graph, not a result of ad.grad, ad.jvp, ad.simplify or another recorded "
                f"transformation; build the graph again for the new shapes")
        else:
            children = [mapped[id(c)] for c in node.children]
            same = all(a is b for a, b in zip(children, node.children))
            mapped[id(node)] = node if same else node.with_children(children)
    return [mapped[id(o)] for o in outputs]


def _dependencies(node):
    """What `node` is rebuilt from: the nodes in its transformation call's arguments, or
    its children."""
    if node.derived_by is not None:
        _, args, kwargs, _ = node.derived_by
        return _nodes_in((args, kwargs))
    return node.children


def _dependency_order(outputs, done):
    """Nodes `outputs` are rebuilt from, dependencies first (iterative depth-first)."""
    order, seen = [], set(done)
    for root in outputs:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(_dependencies(root)))]
        while stack:
            node, deps = stack[-1]
            for dep in deps:
                if id(dep) not in seen:
                    seen.add(id(dep))
                    stack.append((dep, iter(_dependencies(dep))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _nodes_in(value):
    """The nodes inside nested tuples, lists and dicts."""
    if isinstance(value, Node):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _nodes_in(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _nodes_in(v)]
    return []


def _rebuilt(value, mapped):
    """`value` with every node replaced by its rebuilt version."""
    if isinstance(value, Node):
        return mapped.get(id(value), value)
    if isinstance(value, list):
        return [_rebuilt(v, mapped) for v in value]
    if isinstance(value, tuple):
        return tuple(_rebuilt(v, mapped) for v in value)
    if isinstance(value, dict):
        return {k: _rebuilt(v, mapped) for k, v in value.items()}
    return value
