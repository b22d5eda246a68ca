"""Derivative operators built from `grad`, `batch` and `simplify`, all graph to graph.

* ``jvp(y, wrt, tangents)``: forward mode. The vjp graph ``grad(y, wrt, u)`` is linear in
  the cotangent placeholder `u`; differentiating its contraction with the tangents with
  respect to `u` transposes it into the Jacobian-vector product (the "transpose trick"), and
  `simplify` removes what is left of the placeholder.
* ``derivative(y, x, n)``: the n-th derivative of an elementwise function, by n gradients
  each simplified into polynomial normal form, so the graph grows slowly with n.
* ``jacobian``, ``hessian``: vectorised with `batch` (a stack of cotangents through one
  derivative graph), not a loop over output elements.
* ``hvp``: a Hessian-vector product as the gradient of ``grad(y, x) . v``.
"""
import numpy as np

from ..core.node import Node, Variable, Constant, as_node
from ..core.traversal import topo_sort
from ..ops import functions as F
from ..ops.elementwise import Where, Cast
from ..rewrite import simplify
from ..rewrite.polynomial import POLYNOMIAL_OPS
from ..ops import elementwise as ew
from .batch import batch
from .grad import grad

def _placeholder(shape, dtype, name):
    return Variable(np.zeros(shape, dtype=dtype), name=name)


def _contract(a, b):
    """sum(a * b) over all elements, as a scalar node."""
    return F.sum(a * b)


def jvp(y, wrt, tangents):
    """Jacobian-vector products: d/dt y(wrt + t * tangents) at t = 0, one node of y's shape.

    `tangents` are nodes or arrays, one per node of `wrt`. Returns a list with one node
    (so that ``ad.jvp(y, [x], [v])[0]`` reads like ``ad.grad``).
    """
    wrt, tangents = list(wrt), list(tangents)
    if len(wrt) != len(tangents):
        raise ValueError(f"jvp: {len(wrt)} inputs but {len(tangents)} tangents")
    tangents = [as_node(v) if isinstance(v, Node) else Constant(np.asarray(v, dtype=w.dtype))
                for w, v in zip(wrt, tangents)]
    for w, v in zip(wrt, tangents):
        if v.shape != w.shape:
            raise ValueError(f"jvp: tangent {v.describe()} must have the shape of {w.describe()}")
    u = _placeholder(y.shape, y.dtype, "cotangent")
    cotangents = grad(y, wrt, previous_grad=u)
    pairing = sum((_contract(g, v) for g, v in zip(cotangents, tangents)), Constant(0.0))
    result, = grad(pairing, [u])
    return [simplify(result)]


def derivative(y, x, n=1):
    """The n-th derivative of `y`, an elementwise function of `x`, as a small graph.

    Raises ValueError when `y` is not elementwise in `x` (a contraction, reduction or
    reshape lies between them).
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"derivative: n must be a non-negative integer, got {n!r}")
    _check_elementwise(y, x)
    d = simplify(y)
    for _ in range(int(n)):
        d = simplify(grad(d, [x])[0])
    return d


ELEMENTWISE_OPS = POLYNOMIAL_OPS + (
    ew.Exp, ew.Expm1, ew.Log, ew.Log1p, ew.Sqrt, ew.Abs, ew.Sin, ew.Cos, ew.Tan, ew.Tanh,
    ew.Sigmoid, ew.Softplus, ew.ReLU, ew.Step, ew.Sign, Where, ew.Comparison, Cast)


def _check_elementwise(y, x):
    depends = {id(x)}
    for node in topo_sort(y):
        if any(id(c) in depends for c in node.children):
            depends.add(id(node))
            if not isinstance(node, ELEMENTWISE_OPS):
                raise ValueError(
                    f"derivative: y is not an elementwise function of x ({x.describe()}): "
                    f"{node!r} lies between them. Use ad.grad, ad.jacobian or ad.hessian.")
    if id(y) not in depends:
        return
    if y.shape != x.shape:
        raise ValueError(f"derivative: y {y.describe()} must have the shape of x "
                         f"{x.describe()} (each output depends on one input element)")


def jacobian(y, x):
    """The Jacobian of `y` with respect to `x`, of shape ``y.shape + x.shape``."""
    m = int(np.prod(y.shape, dtype=np.int64))
    u = _placeholder(y.shape, y.dtype, "cotangent")
    g, = grad(y, [x], previous_grad=u)
    identity = Constant(np.eye(m, dtype=y.dtype).reshape((m,) + y.shape))
    rows, = batch([simplify(g)], u, identity)
    return simplify(F.reshape(rows, y.shape + x.shape))


def hessian(y, x):
    """The Hessian of ``sum(y)`` with respect to `x`, of shape ``x.shape + x.shape``."""
    g, = grad(y, [x])
    return jacobian(simplify(g), x)


def hvp(y, x, v):
    """The Hessian of ``sum(y)`` wrt `x` applied to `v` (shape of x), without forming it."""
    v = v if isinstance(v, Node) else Constant(np.asarray(v, dtype=x.dtype))
    if v.shape != x.shape:
        raise ValueError(f"hvp: v {v.describe()} must have the shape of x {x.describe()}")
    g, = grad(y, [x])
    result, = grad(_contract(g, v), [x])
    return simplify(result)
