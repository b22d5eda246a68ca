"""The everyday API: numpy-style functions that build nodes.

Each function takes nodes or values (values become Constants) with numpy's argument
conventions (``axis``, ``keepdims``, broadcasting) and returns a node. Contractions and
axis sums are einsums.
"""
import builtins

import numpy as np

from ..core.node import Constant, as_node, as_nodes
from . import elementwise as ew
from .einsum import Einsum, LETTERS, parse, pairwise_order
from .reductions import ReduceMax, Prod, LogSumExp, Softmax
from .shape_ops import (Reshape, BroadcastTo, Concat, Pad, Slice, Transpose, MatMul,
                        normalize_axes, normalize_axis)

# --- arithmetic ------------------------------------------------------------------------


def add(a, b):
    """a + b (broadcasting)."""
    return ew.Add(a, b)


def subtract(a, b):
    """a - b (broadcasting)."""
    return ew.Subtract(a, b)


def multiply(a, b):
    """a * b (broadcasting)."""
    return ew.Mul(*as_nodes(a, b))


def divide(a, b):
    """a / b (broadcasting)."""
    return ew.Divide(a, b)


def negative(x):
    """-x."""
    return ew.Negate(x)


def power(a, b):
    """a ** b (broadcasting)."""
    return ew.Pow(a, b)


def square(x):
    """x ** 2."""
    return ew.Pow(x, 2)


def sqrt(x):
    """Square root."""
    return ew.Sqrt(x)


def abs(x):  # noqa: A001 (numpy's name)
    """|x|."""
    return ew.Abs(x)


def exp(x):
    """e ** x."""
    return ew.Exp(x)


def expm1(x):
    """e ** x - 1, accurate near 0."""
    return ew.Expm1(x)


def log(x):
    """Natural logarithm."""
    return ew.Log(x)


def log1p(x):
    """log(1 + x), accurate near 0."""
    return ew.Log1p(x)


def sin(x):
    """Sine."""
    return ew.Sin(x)


def cos(x):
    """Cosine."""
    return ew.Cos(x)


def tan(x):
    """Tangent."""
    return ew.Tan(x)


def tanh(x):
    """Hyperbolic tangent."""
    return ew.Tanh(x)


def sigmoid(x):
    """Logistic sigmoid 1 / (1 + e**-x), stable for large |x|."""
    return ew.Sigmoid(x)


def relu(x):
    """max(x, 0)."""
    return ew.ReLU(x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    x = as_node(x)
    return ew.Where(ew.Greater(x, 0), x, ew.Mul(*as_nodes(negative_slope, x)))


def softplus(x):
    """log(1 + e**x), stable for large |x|."""
    return ew.Softplus(x)


def maximum(a, b):
    """Elementwise maximum; at ties the gradient goes to `a`."""
    a, b = as_nodes(a, b)
    return ew.Where(ew.GreaterEqual(a, b), a, b)


def minimum(a, b):
    """Elementwise minimum; at ties the gradient goes to `a`."""
    a, b = as_nodes(a, b)
    return ew.Where(ew.LessEqual(a, b), a, b)


def where(cond, a, b):
    """a where cond, else b. The branch not taken gets a zero gradient (never NaN)."""
    return ew.Where(cond, a, b)


def stop_gradient(x):
    """x's value, with no gradient flowing back into x: ``grad`` treats it as a constant.
    ``ad.grad(ad.stop_gradient(x) * x, [x])`` is x, not 2x."""
    return ew.StopGradient(x)


def clip(x, a_min=None, a_max=None):
    """x limited to [a_min, a_max] (either may be None)."""
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return as_node(x)


# --- reductions ------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Sum over `axis` (None: all), as an einsum."""
    x = as_node(x)
    labels = LETTERS[:x.ndim]
    axes = normalize_axes(_Named("sum", x), axis, x.ndim)
    kept = "".join(l for i, l in enumerate(labels) if i not in axes)
    result = Einsum(f"{labels}->{kept}", x) if axes else x
    if keepdims:
        result = Reshape(result, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return result


def mean(x, axis=None, keepdims=False):
    """Mean over `axis` (None: all)."""
    x = as_node(x)
    axes = normalize_axes(_Named("mean", x), axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return ew.Mul(sum(x, axis, keepdims), Constant(1.0 / count if count else np.nan, dtype=x.dtype))


def max(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Maximum over `axis`; tied maxima share the gradient."""
    return ReduceMax(x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Minimum over `axis`; tied minima share the gradient."""
    return ew.Negate(ReduceMax(ew.Negate(x), axis, keepdims))


def prod(x, axis=None, keepdims=False):
    """Product over `axis`."""
    return Prod(x, axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, stable for large inputs."""
    return LogSumExp(x, axis, keepdims)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, stable for large inputs."""
    return Softmax(x, axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`: log-probabilities, stable for large inputs."""
    x = as_node(x)
    return ew.Subtract(x, LogSumExp(x, axis, keepdims=True))


# --- shapes ----------------------------------------------------------------------------


def reshape(x, shape):
    """Same values in a new shape (one entry may be -1)."""
    return Reshape(x, shape)


def transpose(x, axes=None):
    """Permute axes (reverse them when `axes` is None)."""
    return Transpose(x, axes)


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    x = as_node(x)
    named = _Named("swapaxes", x)
    a, b = normalize_axis(named, axis1, x.ndim), normalize_axis(named, axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return Transpose(x, order)


def expand_dims(x, axis):
    """Insert a size-1 axis at `axis`."""
    x = as_node(x)
    axis = normalize_axis(_Named("expand_dims", x), axis, x.ndim + 1)
    return Reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or those in `axis`)."""
    x = as_node(x)
    axes = normalize_axes(_Named("squeeze", x), axis, x.ndim) if axis is not None \
        else tuple(i for i, d in enumerate(x.shape) if d == 1)
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"squeeze: axis {axis!r} of {x.describe()} does not have size 1")
    return Reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def broadcast_to(x, shape):
    """numpy broadcasting to `shape`."""
    return BroadcastTo(x, shape)


def concatenate(nodes, axis=0):
    """Join a sequence of nodes along an existing axis."""
    return Concat(*nodes, axis=axis)


def stack(nodes, axis=0):
    """Join a sequence of equal-shaped nodes along a new axis."""
    nodes = as_nodes(*nodes)
    if len({n.shape for n in nodes}) > 1:
        raise ValueError("stack: operands " + ", ".join(n.describe() for n in nodes)
                         + " must all have the same shape")
    return Concat(*[expand_dims(n, axis) for n in nodes], axis=axis)


def pad(x, pad_width, constant_values=0):
    """numpy.pad with a constant."""
    return Pad(x, pad_width, constant_values)


def zeros_like(x):
    """A constant of zeros with `x`'s shape and dtype."""
    x = as_node(x)
    return Constant(np.zeros(x.shape, dtype=x.dtype))


def ones_like(x):
    """A constant of ones with `x`'s shape and dtype."""
    x = as_node(x)
    return Constant(np.ones(x.shape, dtype=x.dtype))


# --- contractions: all einsums -------------------------------------------------------


def einsum(subscripts, *operands, name=None):
    """Einstein summation over nodes, like numpy.einsum.

    With three or more operands the contraction is split, once, along the cheapest
    pairwise order into two-operand Einsum nodes, so intermediate products are graph nodes
    that the gradient reuses instead of recomputing.
    """
    operands = as_nodes(*operands)
    if len(operands) <= 2:
        return Einsum(subscripts, *operands, name=name)
    subscripts = subscripts.replace(" ", "")
    inputs, output, sizes = parse(subscripts, [o.shape for o in operands], operands)
    pairs = pairwise_order(inputs, output, sizes)
    items = list(zip(inputs, operands))  # id -> (labels, node); pair t's result is id n + t
    consumed = set()
    for t, (a, b) in enumerate(pairs):
        consumed.update((a, b))
        (sa, na), (sb, nb) = items[a], items[b]
        live = [items[i][0] for i in range(len(items)) if i not in consumed]
        last = t == len(pairs) - 1
        needed = set(output).union(*live)
        result = output if last else "".join(l for l in dict.fromkeys(sa + sb) if l in needed)
        items.append((result, Einsum(f"{sa},{sb}->{result}", na, nb, name=name if last else None)))
    return items[-1][1]


def matmul(a, b):
    """Matrix product with numpy.matmul's rules (stacks of matrices broadcast)."""
    return MatMul(a, b)


def dot(a, b):
    """numpy.dot: products for scalars, matmul for 1-D/2-D, else a sum over the last axis
    of `a` and the second-to-last of `b`."""
    a, b = as_nodes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return ew.Mul(a, b)
    if b.ndim <= 2:
        return MatMul(a, b)
    la = LETTERS[:a.ndim - 1]
    lb = LETTERS[a.ndim - 1:a.ndim + b.ndim - 2]
    contracted = "Z"
    return einsum(f"{la}{contracted},{lb[:-1]}{contracted}{lb[-1]}->{la}{lb}", a, b)


def tensordot(a, b, axes=2):
    """numpy.tensordot: sum over the last `axes` axes of `a` and first of `b`, or over
    explicit axis lists ``axes=([a axes], [b axes])``."""
    a, b = as_nodes(a, b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    axes_a = [normalize_axis(_Named("tensordot", a), x, a.ndim) for x in axes_a]
    axes_b = [normalize_axis(_Named("tensordot", b), x, b.ndim) for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of {a.describe()} paired with "
                         f"{len(axes_b)} axes of {b.describe()}")
    la = list(LETTERS[:a.ndim])
    lb = list(LETTERS[a.ndim:a.ndim + b.ndim])
    for x, y in zip(axes_a, axes_b):
        lb[y] = la[x]
    out = [l for i, l in enumerate(la) if i not in axes_a] + \
          [l for i, l in enumerate(lb) if i not in axes_b]
    return Einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


def outer(a, b):
    """Outer product of the flattened operands."""
    a, b = as_nodes(a, b)
    return Einsum("i,j->ij", Reshape(a, (-1,)), Reshape(b, (-1,)))


def diagonal(x, offset=0, axis1=0, axis2=1):
    """numpy.diagonal: the diagonal over two axes, moved to the last axis."""
    x = as_node(x)
    named = _Named("diagonal", x)
    a1, a2 = normalize_axis(named, axis1, x.ndim), normalize_axis(named, axis2, x.ndim)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are the same axis {a1} of {x.describe()}")
    n = builtins.min(x.shape[a1] - builtins.max(-offset, 0), x.shape[a2] - builtins.max(offset, 0))
    n = builtins.max(n, 0)
    index = [slice(None)] * x.ndim
    index[a1] = slice(builtins.max(-offset, 0), builtins.max(-offset, 0) + n)
    index[a2] = slice(builtins.max(offset, 0), builtins.max(offset, 0) + n)
    if offset or x.shape[a1] != x.shape[a2]:
        x = Slice(x, tuple(index))
    labels = list(LETTERS[:x.ndim])
    labels[a2] = labels[a1]
    rest = "".join(l for i, l in enumerate(labels) if i not in (a1, a2))
    return Einsum(f"{''.join(labels)}->{rest}{labels[a1]}", x)


def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal over two axes (numpy.trace)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def index(x, item):
    """x[item] with numpy basic or integer-array indexing."""
    return Slice(x, item)


# --- helpers ---------------------------------------------------------------------------


class _Named:
    """Stands in for an op in axis-error messages raised by a function, not a node."""

    def __init__(self, name, operand):
        self.children = (operand,)
        self.op_name = name
