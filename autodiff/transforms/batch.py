"""Batching: the same graph applied to a stack of values of one input, as one graph.

``batch(outputs, placeholder, stacked)`` rebuilds the part of the graph that depends on
`placeholder` so that it computes, in one pass, the outputs for every value stacked along
the first axis of `stacked` (shape ``(B,) + placeholder.shape``). Each op has a batching
rule: elementwise ops broadcast a leading batch axis, einsums gain a batch label, and shape
ops shift their axes by one.

This is what makes `jacobian` and `hessian` vectorised: the derivative graph of
``sum(u * y)`` is linear in the cotangent `u`; batching it over the identity matrix gives
every row of the Jacobian at once, through the same einsums (matmuls) as one gradient.
"""
from ..core.traversal import topo_sort
from ..ops import elementwise as ew
from ..ops.einsum import Einsum, LETTERS
from ..ops import shape_ops as so
from ..ops.reductions import Softmax


def batch(outputs, placeholder, stacked):
    """Outputs recomputed for each value in `stacked` (see module docstring); each output
    gets a leading batch axis (broadcast when it does not depend on `placeholder`)."""
    size = stacked.shape[0]
    batched = {id(placeholder): stacked}
    for node in topo_sort(outputs):
        if id(node) in batched or not any(id(c) in batched for c in node.children):
            continue
        rule = _rule_for(node)
        if rule is None:
            raise NotImplementedError(
                f"batching (used by jacobian/hessian) has no rule for {type(node).__name__}")
        children = [batched.get(id(c), c) for c in node.children]
        flags = [id(c) in batched for c in node.children]
        batched[id(node)] = rule(node, children, flags, size)
    results = []
    for out in outputs:
        b = batched.get(id(out))
        results.append(b if b is not None else so.BroadcastTo(out, (size,) + out.shape))
    return results


def _aligned(child, is_batched, ndim):
    """A batched operand reshaped to (B, 1.., *shape) so it broadcasts against `ndim`-D."""
    if not is_batched:
        return child
    inner = child.shape[1:]
    return so.Reshape(child, child.shape[:1] + (1,) * (ndim - len(inner)) + inner)


def _elementwise(node, children, flags, size):
    ops = [_aligned(c, f, node.ndim) for c, f in zip(children, flags)]
    return type(node)(*ops, **node.params)


def _einsum(node, children, flags, size):
    label = next(l for l in LETTERS if l not in "".join(node.inputs) + node.output)
    inputs = [label + s if f else s for s, f in zip(node.inputs, flags)]
    return Einsum(",".join(inputs) + "->" + label + node.output, *children)


def _reshape(node, children, flags, size):
    return so.Reshape(children[0], (size,) + node.shape)


def _broadcast_to(node, children, flags, size):
    return so.BroadcastTo(_aligned(children[0], True, node.ndim), (size,) + node.shape)


def _sum_to_shape(node, children, flags, size):
    lead = children[0].ndim - 1 - node.ndim
    summed = so.ReduceSumToShape(children[0], (size,) + (1,) * lead + node.shape)
    return so.Reshape(summed, (size,) + node.shape)


def _sum_keep_dims(node, children, flags, size):
    return so.ReduceSumKeepDims(children[0], tuple(a + 1 for a in node.axes))


def _index(item):
    return (slice(None),) + (item if isinstance(item, tuple) else (item,))


def _slice(node, children, flags, size):
    return so.Slice(children[0], _index(node.item))


def _scatter(node, children, flags, size):
    return so.ScatterAdd(children[0], _index(node.item), (size,) + node.target)


def _concat(node, children, flags, size):
    parts = [c if f else so.BroadcastTo(c, (size,) + c.shape) for c, f in zip(children, flags)]
    return so.Concat(*parts, axis=node.axis + 1)


def _pad(node, children, flags, size):
    return so.Pad(children[0], ((0, 0),) + node.pad_width, node.constant_values)


def _softmax(node, children, flags, size):
    return Softmax(children[0], node.axis + 1)


def _cast(node, children, flags, size):
    return ew.Cast(children[0], node.dtype)


ELEMENTWISE = (ew.Add, ew.Subtract, ew.Mul, ew.Negate, ew.Recipr, ew.Divide, ew.Pow, ew.Exp,
               ew.Expm1, ew.Log, ew.Log1p, ew.Sqrt, ew.Abs, ew.Sin, ew.Cos, ew.Tan, ew.Tanh,
               ew.Sigmoid, ew.Softplus, ew.ReLU, ew.Step, ew.Sign, ew.Where, ew.Comparison)

RULES = [
    (ELEMENTWISE, _elementwise), (Einsum, _einsum), (so.Reshape, _reshape),
    (so.BroadcastTo, _broadcast_to), (so.ReduceSumToShape, _sum_to_shape),
    (so.ReduceSumKeepDims, _sum_keep_dims), (so.Slice, _slice), (so.ScatterAdd, _scatter),
    (so.Concat, _concat), (so.Pad, _pad), (Softmax, _softmax), (ew.Cast, _cast),
]


def _rule_for(node):
    for types, fn in RULES:
        if isinstance(node, types):
            return fn
    return None

