"""Forward mode as a graph-to-graph transformation: `jvp`.

``jvp(y, wrt, tangents)`` walks the graph from the inputs to `y` and builds, for every
node on a path from `wrt`, the node of its directional derivative (its *tangent*). Each op
gives its tangent by, in order of preference:

1. its own rule, ``jvp(self, tangents)`` (one tangent node or None per child, None where
   the child has no tangent); returns the output's tangent or None;
2. for an elementwise op, its `vjp` rule: the Jacobian of an elementwise op is diagonal,
   so applying the vjp rule to a tangent gives the jvp;
3. for a `linear` op (reshape, slice, sums), the op applied to the tangent;
4. otherwise the transpose of its `vjp` rule, built locally: the vjp rule is linear in the
   cotangent `u`, and the gradient of ``<vjp(u), t>`` with respect to `u` is the jvp.

Zeros stay symbolic (a node without a tangent has no entry), as in `grad`.
"""
import numpy as np

from ..core import context
from ..core.derivation import records_derivation
from ..core.node import Node, Constant, Variable
from ..core.traversal import topo_sort
from ..ops.arithmetic import Add, Mul
from ..ops.functions import sum as reduce_sum
from ..ops.logic import Cast
from ..ops.shape_ops import BroadcastTo
from .grad import fit_to_shape, grad


@records_derivation()
def jvp(y, wrt, tangents):
    """Jacobian-vector products: d/dt y(wrt + t * tangents) at t = 0, one node of y's shape.

    `tangents` are nodes or arrays, one per node of `wrt`. Returns a list with one node
    (so that ``ad.jvp(y, [x], [v])[0]`` reads like ``ad.grad``).
    """
    if not isinstance(y, Node):
        raise TypeError(f"jvp: y must be a node, got {type(y).__name__}")
    wrt, tangents = list(wrt), list(tangents)
    if len(wrt) != len(tangents):
        raise ValueError(f"jvp: {len(wrt)} inputs but {len(tangents)} tangents")
    tangent = {}
    for w, v in zip(wrt, tangents):
        if not isinstance(w, Node):
            raise TypeError(f"jvp: wrt holds a {type(w).__name__}, not a node")
        v = v if isinstance(v, Node) else Constant(np.asarray(v, dtype=w.dtype))
        if v.shape != w.shape:
            raise ValueError(f"jvp: tangent {v.describe()} must have the shape of {w.describe()}")
        tangent[id(w)] = v if id(w) not in tangent else Add(tangent[id(w)], v)
    inputs = set(tangent)
    for node in topo_sort([y], leaves=wrt):
        if id(node) in inputs or not node.differentiable or not node.children:
            continue
        child_tangents = [tangent.get(id(c)) for c in node.children]
        if all(t is None for t in child_tangents):
            continue
        with context.derivative_of(node):
            t = node_jvp(node, child_tangents)
            if t is not None:
                tangent[id(node)] = _as_output(t, node)
    result = tangent.get(id(y))
    if result is None:
        result = Constant(np.zeros(y.shape, dtype=y.dtype))
    return [result]


def node_jvp(node, tangents):
    """The tangent of `node` given its children's tangents (see the module docstring)."""
    tangents = [None if t is None else _as_operand(t, c)
                for t, c in zip(tangents, node.children)]
    rule = getattr(node, "jvp", None)
    if rule is not None:
        return rule(tangents)
    if node.elementwise:
        return _sum([_elementwise_part(node, k, t) for k, t in enumerate(tangents)
                     if t is not None])
    if node.linear:
        return node.with_children(tangents)
    return transposed_vjp(node, tangents)


def _elementwise_part(node, k, t):
    g = t if t.shape == node.shape else BroadcastTo(t, node.shape)
    return node.vjp(g)[k]


def transposed_vjp(node, tangents):
    """The jvp of `node` as the transpose of its vjp rule, built on a placeholder."""
    u = Variable(np.zeros(node.shape, dtype=node.dtype), name="u")
    parts = node.vjp(u)
    pairing = _sum([reduce_sum(Mul(fit_to_shape(p, c, node), t))
                    for p, c, t in zip(parts, node.children, tangents)
                    if p is not None and t is not None])
    if pairing is None:
        return None
    result, = grad(pairing, [u])
    if any(n is u for n in topo_sort(result)):
        raise ValueError(f"{type(node).__name__}.vjp is not linear in its cotangent, so its "
                         f"forward-mode derivative cannot be derived from it; give the op a "
                         f"jvp(self, tangents) rule")
    return result


def _sum(terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = Add(total, t)
    return total


def _as_operand(t, child):
    """A tangent with its child's shape and dtype."""
    if t.shape != child.shape:
        t = fit_to_shape(t, child, child)
    if t.dtype != child.dtype and np.issubdtype(child.dtype, np.inexact):
        t = Cast(t, child.dtype)
    return t


def _as_output(t, node):
    """A tangent with its node's shape and dtype."""
    if t.shape != node.shape:
        t = BroadcastTo(t, node.shape)
    if t.dtype != node.dtype:
        t = Cast(t, node.dtype)
    return t
