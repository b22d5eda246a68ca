"""Derivative operators built from `grad`, `batch` and `simplify`, all graph to graph.

* ``derivative(y, x, n)``: the n-th derivative of an elementwise function, by n gradients
  each simplified into polynomial normal form, so the graph grows slowly with n.
* ``jacobian``, ``hessian``: vectorised with `batch` (a stack of cotangents through one
  derivative graph), not a loop over output elements. Like `grad`, they return the graph
  as derived: it is rewritten when it runs (once per structure, so a Hessian built anew
  each call costs about what building it does), and ``simplify`` shows the small form.
* ``hvp``: a Hessian-vector product as the gradient of ``grad(y, x) . v``.
(``jvp``, forward mode, is in forward.py.)
"""
import warnings

import numpy as np

from ..core.context import next_serial
from ..core.derivation import records_derivation
from ..core.node import Node, Variable, Constant
from ..core.shapes import broadcast_shapes
from ..core.traversal import topo_sort
from ..ops import functions as F
from ..rewrite import simplify
from .batch import batch
from .grad import grad


def _placeholder(shape, dtype, name):
    return Variable(np.zeros(shape, dtype=dtype), name=name)


@records_derivation(all_results=True)
def derivative(y, x, n=1):
    """The n-th derivative of `y`, an elementwise function of `x`, as a small graph.

    Raises ValueError when `y` is not elementwise in `x` (a contraction, reduction or
    reshape lies between them).
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"derivative: n must be a non-negative integer, got {n!r}")
    _check_elementwise(y, x)
    d = simplify(y)
    for _ in range(int(n)):
        d = simplify(grad(d, [x])[0])
    return d


_WARNED = set()


def _check_elementwise(y, x):
    depends = {id(x)}
    for node in topo_sort(y):
        if not any(id(c) in depends for c in node.children):
            continue
        depends.add(id(node))
        if node.elementwise is None:
            _trust_undeclared(node)
        elif not node.elementwise:
            raise ValueError(
                f"derivative: y is not an elementwise function of x ({x.describe()}): "
                f"{node!r} lies between them. Use ad.grad, ad.jacobian or ad.hessian.")
    if id(y) in depends and y.shape != x.shape:
        raise ValueError(f"derivative: y {y.describe()} must have the shape of x "
                         f"{x.describe()} (each output depends on one input element)")


def _trust_undeclared(node):
    """An op that does not say whether it is elementwise is taken as elementwise when its
    shape rule is broadcasting, with a warning (once per op class) asking to declare it."""
    cls = type(node)
    if node.shape != broadcast_shapes(cls.__name__, node.children):
        raise ValueError(f"derivative: {node!r} changes the shape of its operands, so it "
                         f"is not elementwise")
    if cls not in _WARNED:
        _WARNED.add(cls)
        warnings.warn(f"derivative: {cls.__name__} does not declare `elementwise`; it is "
                      f"taken as elementwise because its shape rule is broadcasting. Set "
                      f"`elementwise = True` (or False) on the class.", stacklevel=4)


@records_derivation(all_results=True)
def jacobian(y, x):
    """The Jacobian of `y` with respect to `x`, of shape ``y.shape + x.shape``."""
    m = int(np.prod(y.shape, dtype=np.int64))
    u = _placeholder(y.shape, y.dtype, "cotangent")
    g, = grad(y, [x], previous_grad=u)
    identity = Constant(np.eye(m, dtype=y.dtype).reshape((m,) + y.shape))
    start = next_serial()
    rows, = batch([g], u, identity)
    return _labelled(F.reshape(rows, y.shape + x.shape), y, x, start)


@records_derivation(all_results=True)
def hessian(y, x):
    """The Hessian of ``sum(y)`` with respect to `x`, of shape ``x.shape + x.shape``."""
    g, = grad(y, [x])
    return jacobian(g, x)


def _labelled(result, y, x, start):
    """`result`, if built after `start`, marked as the derivative of `y` with respect to
    `x` (as `grad` marks what it returns), so that pictures draw and label it as one."""
    if result.serial >= start:
        if result.derivative_of is None:
            result.derivative_of = y
        result.gradient_of = ((y, x),)
    return result


@records_derivation(all_results=True)
def hvp(y, x, v):
    """The Hessian of ``sum(y)`` wrt `x` applied to `v` (shape of x), without forming it."""
    v = v if isinstance(v, Node) else Constant(np.asarray(v, dtype=x.dtype))
    if v.shape != x.shape:
        raise ValueError(f"hvp: v {v.describe()} must have the shape of x {x.describe()}")
    g, = grad(y, [x])
    result, = grad(F.sum(F.multiply(g, v)), [x])
    return simplify(result)
