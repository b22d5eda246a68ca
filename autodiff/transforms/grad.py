"""Reverse mode as a graph-to-graph transformation.

``grad(y, wrt)`` reads only the graph and returns new nodes. It

* visits, in reverse topological order, only nodes on a path from `y` to some `wrt`
  (other nodes never have their rules called);
* keeps zeros symbolic: a node with no cotangent simply has no entry, so no zero node is
  ever built for it, and a rule may return ``None`` for "no gradient";
* undoes broadcasting in one place (`fit_to_shape`), so rules may return cotangents of
  their output's shape;
* marks every node it builds with the forward node it came from (for pictures), and each
  node it returns with what it is the derivative of (`gradient_of`: (y, w) pairs, so a
  picture can label it "d y / d w");
* copies, instead of deriving again, the derivative graph of a graph rebuilt the same way
  (a training step), onto the new graph's nodes (grad_reuse.py).

An op with no rule raises NotImplementedError naming the op; a non-differentiable op
(comparisons) contributes nothing, like a constant.
"""
import warnings

import numpy as np

from ..core import context
from ..core.context import next_serial
from ..core.derivation import records_derivation
from ..core.gcpause import gc_paused
from ..core.node import Node, Constant
from ..core.traversal import topo_sort
from ..ops.arithmetic import Add
from ..ops.shape_ops import BroadcastTo, ReduceSumToShape
from . import grad_reuse


@records_derivation()
def grad(y, wrt, previous_grad=None):
    """Derivative nodes of ``sum(y * previous_grad)`` with respect to each node in `wrt`.

    Without `previous_grad` this is the gradient of ``sum(y)`` (so the usual gradient for
    a scalar `y`). Returns a list with one node per entry of `wrt`, each of that entry's
    shape; an entry `y` does not depend on gets a zero Constant.
    """
    if not isinstance(y, Node):
        raise TypeError(f"grad: y must be a node, got {type(y).__name__}")
    if isinstance(wrt, Node) or not isinstance(wrt, (list, tuple)):
        raise TypeError("grad: wrt must be a list of nodes, e.g. grad(y, [x])")
    for i, w in enumerate(wrt):
        if not isinstance(w, Node):
            raise TypeError(f"grad: wrt[{i}] is a {type(w).__name__}, not a node")
    with gc_paused():
        order = topo_sort([y])
        key = grad_reuse.forward_key(order, wrt) if previous_grad is None else None
        recipe = grad_reuse.find(key, order) if key is not None else None
        if recipe is not None:
            built = grad_reuse.build(recipe, order)
        else:
            with context.finiteness_remembered():  # what the rules asked, for the recipe
                start = next_serial()
                seed = _seed(y, previous_grad)
                cotangents = backpropagate(y, seed, wrt, order=order)
                grads = [cotangents.get(w) if w in cotangents else _zeros(w) for w in wrt]
                # built here: by a rule, the seed, or a zero
                built = [(g, g.derivative_of is not None or g is seed or w not in cotangents)
                         for w, g in zip(wrt, grads)]
                if key is not None:
                    finite = context.finiteness_memo()[0]
                    grad_reuse.remember(key, order, built, start, finite)
    for w, (g, here) in zip(wrt, built):
        if here:
            g.gradient_of = g.gradient_of + ((y, w),)
    grads = [g for g, _ in built]
    if recipe is None and _may_be_large(order):
        _warn_if_large(grads, y)
    return grads


def _may_be_large(nodes):
    """Whether the exact check is worth making, from `nodes` (y's graph): only a `y` that
    is itself a derivative (nested grad) can grow fast, and each derivative rule builds a
    handful of nodes (under a dozen), so the gradient of a small `y` cannot reach the
    warning size. A first gradient of a long unrolled model is large because the model
    is, and never warns."""
    return (len(nodes) * 3 * GROWTH_WARNING > GRAPH_SIZE_WARNING
            and any(n.derivative_of is not None for n in nodes))


#: grad warns when the derivative graph it returns has more nodes than this, and more
#: than GROWTH_WARNING times its forward (non-derivative) part: the signature of nesting.
GRAPH_SIZE_WARNING = 20_000
GROWTH_WARNING = 4


def _warn_if_large(grads, y):
    nodes = topo_sort(grads)
    size = len(nodes)
    forward = sum(1 for n in nodes if n.derivative_of is None)
    if size > GRAPH_SIZE_WARNING and size > GROWTH_WARNING * forward:
        warnings.warn(
            f"the derivative graph has {size} nodes. Nested derivatives grow fast: "
            f"ad.simplify(...) after each grad, or ad.derivative(y, x, n) for an elementwise "
            f"function, keeps them small", stacklevel=3)


def backpropagate(y, seed, wrt, stop_at_wrt=False, order=None):
    """Map each node of `wrt` reached from `y` to its cotangent node.

    `y` and `seed` may be lists (several outputs with their cotangents, propagated in one
    pass). With `stop_at_wrt`, the nodes of `wrt` are treated as leaves (partial
    derivatives: nothing flows through them to their own inputs), as a derivative rule
    needs. `order`: ``topo_sort([y])`` when the caller has it already.
    """
    ys, seeds = (list(y), list(seed)) if isinstance(y, (list, tuple)) else ([y], [seed])
    if order is None:
        order = topo_sort(ys, leaves=wrt if stop_at_wrt else ())
    on_path = set(map(id, wrt))
    for node in order:  # children come first, so one pass finds every node reaching wrt
        for c in node.children:
            if id(c) in on_path:
                on_path.add(id(node))
                break
    wanted = set(map(id, wrt))
    pending = {}
    for out, s in zip(ys, seeds):
        pending.setdefault(id(out), []).append(s)
    with context.finiteness_remembered():
        return _propagate(order, pending, on_path, wanted, stop_at_wrt)


def _propagate(order, pending, on_path, wanted, stop_at_wrt):
    """The loop of `backpropagate`: cotangents from `pending` ({id(node): [terms]})
    through the nodes of `order` that are `on_path`; {node of `wanted`: cotangent}."""
    result = {}
    for node in reversed(order):
        terms = pending.pop(id(node), None)
        if terms is None or id(node) not in on_path:
            continue
        g = terms[0] if len(terms) == 1 else _add_all(terms, node)
        if id(node) in wanted:
            result[node] = g
            if stop_at_wrt:
                continue
        if not node.children or not node.differentiable:
            continue
        tokens = context.enter_rule(node, tuple([id(c) in on_path for c in node.children]))
        try:
            parts = node.vjp(g)
            if len(parts) != len(node.children):
                raise ValueError(f"{type(node).__name__}.vjp returned {len(parts)} cotangents "
                                 f"for {len(node.children)} children")
            for child, part in zip(node.children, parts):
                if part is None or id(child) not in on_path:
                    continue
                if not isinstance(part, Node) or part.shape != child.shape:
                    part = fit_to_shape(part, child, node)
                pending.setdefault(id(child), []).append(part)
        finally:
            context.exit_rule(tokens)
    return result


def fit_to_shape(part, child, op):
    """`part` summed (or broadcast) to `child`'s shape: the one place broadcasting is undone."""
    if not isinstance(part, Node):
        part = Constant(np.asarray(part, dtype=child.dtype))
    if part.shape == child.shape:
        return part
    target, shape = child.shape, part.shape
    n = min(len(shape), len(target))
    trailing = tuple(zip(shape[len(shape) - n:], target[len(target) - n:]))
    if any(p != t and 1 not in (p, t) for p, t in trailing):
        raise ValueError(f"{type(op).__name__}.vjp gave a cotangent of shape {shape} for "
                         f"operand {child.describe()}; it must broadcast to the operand's "
                         f"shape") from None
    # sum away extra leading axes and the axes the operand broadcast from size 1 ...
    summed = tuple(t if t == 1 else p for p, t in trailing)
    if summed != shape:
        part = ReduceSumToShape(part, summed)
    # ... then broadcast up where the cotangent is smaller than the operand
    if part.shape != target:
        part = BroadcastTo(part, target)
    return part


def _add_all(terms, node):
    # One sum of all the terms, in the order they were produced. It is not a chain of
    # binary sums, which would cost a node per term: the planner adds a derivative's
    # sum as running totals in the order its terms become available (schedule.py), so
    # each term is still added and dropped as soon as it is computed.
    with context.derivative_of(node):
        return Add(*terms)


def _seed(y, previous_grad):
    if previous_grad is None:
        return Constant(np.ones(y.shape, dtype=y.dtype))
    seed = previous_grad if isinstance(previous_grad, Node) else Constant(
        np.asarray(previous_grad, dtype=y.dtype))
    if seed.shape != y.shape:
        raise ValueError(f"grad: previous_grad {seed.describe()} must have the shape of "
                         f"y {y.describe()}")
    return seed


def _zeros(w):
    return Constant(np.zeros(w.shape, dtype=w.dtype if np.issubdtype(w.dtype, np.inexact)
                             else np.float64))
