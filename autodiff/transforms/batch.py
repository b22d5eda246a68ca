"""Batching: the same graph applied to a stack of values of one input, as one graph.

``batch(outputs, placeholder, stacked)`` rebuilds the part of the graph that depends on
`placeholder` so that it computes, in one pass, the outputs for every value stacked along
the first axis of `stacked` (shape ``(B,) + placeholder.shape``). Each op is batched by,
in order of preference:

1. its own rule, ``batch(self, operands, batched, size)``: `operands` are the new
   children (those flagged in `batched` carry a leading batch axis of `size`); it returns
   the batched node, or None to decline;
2. for an elementwise op, broadcasting: the batched operands get a leading axis and
   size-1 axes that line them up with the output;
3. otherwise a loop: the op applied to each row and the rows stacked (correct for any op,
   B nodes instead of one).

This is what makes `jacobian` and `hessian` vectorised: the derivative graph of
``sum(u * y)`` is linear in the cotangent `u`; batching it over the identity matrix gives
every row of the Jacobian at once, through the same einsums (matmuls) as one gradient.
"""
from ..core.traversal import topo_sort
from ..ops.shape_ops import BroadcastTo, Concat, Reshape, Slice, align_batched


def batch(outputs, placeholder, stacked):
    """Outputs recomputed for each value in `stacked` (see module docstring); each output
    gets a leading batch axis (broadcast when it does not depend on `placeholder`)."""
    size = stacked.shape[0]
    batched = {id(placeholder): stacked}
    for node in topo_sort(outputs):
        if id(node) in batched or not any(id(c) in batched for c in node.children):
            continue
        operands = [batched.get(id(c), c) for c in node.children]
        flags = [id(c) in batched for c in node.children]
        batched[id(node)] = batch_node(node, operands, flags, size)
    results = []
    for out in outputs:
        b = batched.get(id(out))
        results.append(b if b is not None else BroadcastTo(out, (size,) + out.shape))
    return results


def batch_node(node, operands, flags, size):
    """`node` batched over the operands flagged in `flags` (see the module docstring)."""
    rule = getattr(node, "batch", None)
    result = rule(operands, flags, size) if rule is not None else None
    if result is not None:
        return result
    if node.elementwise:
        aligned = [align_batched(o, node.ndim) if f else o for o, f in zip(operands, flags)]
        return node.with_children(aligned)
    return _loop(node, operands, flags, size)


def _loop(node, operands, flags, size):
    """The op applied to each row of its batched operands, rows stacked."""
    rows = []
    for b in range(size):
        row = [Slice(o, b) if f else o for o, f in zip(operands, flags)]
        rows.append(Reshape(node.with_children(row), (1,) + node.shape))
    return rows[0] if size == 1 else Concat(*rows, axis=0)
