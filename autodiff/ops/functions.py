"""The everyday API: numpy-style functions that build nodes.

Each function takes nodes or values (values become Constants; Python numbers are weak
operands, as in numpy) with numpy's argument conventions (``axis``, ``keepdims``,
broadcasting) and dtypes, and returns a node. Contractions and axis sums are einsums.
Bad arguments raise when the node is built, naming the function and the operand.
"""
import builtins
import functools

import numpy as np

from ..core.dtypes import sum_dtype
from ..core.node import Constant, as_node, as_nodes
from ..core.shapes import normalize_axes, normalize_axis
from .arithmetic import Add, Divide, Mul, Negate, Subtract
from .einsum import LETTERS, Einsum, MatMul, Transpose, pairwise_order, parse
from .elementary import (Abs, Arctan, Cos, Cosh, Exp, Expm1, Log, Log1p, Pow, ReLU, Sigmoid,
                         Sin, Sinh, Softplus, Sqrt, Tan, Tanh)
from .logic import (Cast, Equal, Greater, GreaterEqual, Less, LessEqual, StopGradient, Where)
from .reductions import LogSumExp, Mean, Prod, ReduceMax, ReduceMin, Softmax
from .shape_ops import BroadcastTo, Concat, ExpandDims, Pad, Reshape, Slice, Squeeze

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "log1p",
    "expm1", "sqrt", "square", "abs", "sin", "cos", "tan", "arctan", "sinh", "cosh", "tanh",
    "sigmoid", "relu",
    "leaky_relu", "softplus", "maximum", "minimum", "where", "clip", "less", "less_equal",
    "greater", "greater_equal", "equal", "sum", "mean", "max", "min", "prod", "logsumexp",
    "softmax", "log_softmax", "reshape", "transpose", "swapaxes", "expand_dims", "squeeze",
    "broadcast_to", "concatenate", "stack", "pad", "einsum", "matmul", "dot", "tensordot",
    "outer", "trace", "diagonal", "zeros_like", "ones_like", "index", "stop_gradient",
]

# --- arithmetic ------------------------------------------------------------------------


def add(a, b):
    """a + b (broadcasting)."""
    return Add(a, b)


def subtract(a, b):
    """a - b (broadcasting)."""
    return Subtract(a, b)


def multiply(a, b):
    """a * b (broadcasting)."""
    return Mul(a, b)


def divide(a, b):
    """a / b (broadcasting; integers divide to float64, as in numpy)."""
    return Divide(a, b)


def negative(x):
    """-x."""
    return Negate(x)


def power(a, b):
    """a ** b (broadcasting)."""
    return Pow(a, b)


def square(x):
    """x ** 2, in numpy.square's dtype (booleans square to int8)."""
    x = as_node(x)
    dtype = np.square(np.zeros(0, x.dtype)).dtype
    return Pow(x if dtype == x.dtype else Cast(x, dtype), 2)


def sqrt(x):
    """Square root."""
    return Sqrt(x)


def abs(x):  # noqa: A001 (numpy's name)
    """The absolute value of x."""
    return Abs(x)


def exp(x):
    """e ** x."""
    return Exp(x)


def expm1(x):
    """e ** x - 1, accurate near 0."""
    return Expm1(x)


def log(x):
    """Natural logarithm."""
    return Log(x)


def log1p(x):
    """log(1 + x), accurate near 0."""
    return Log1p(x)


def sin(x):
    """Sine."""
    return Sin(x)


def cos(x):
    """Cosine."""
    return Cos(x)


def tan(x):
    """Tangent."""
    return Tan(x)


def arctan(x):
    """Inverse tangent."""
    return Arctan(x)


def sinh(x):
    """Hyperbolic sine."""
    return Sinh(x)


def cosh(x):
    """Hyperbolic cosine."""
    return Cosh(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh(x)


def sigmoid(x):
    """Logistic sigmoid 1 / (1 + e**-x), stable for inputs of any size."""
    return Sigmoid(x)


def relu(x):
    """max(x, 0)."""
    return ReLU(x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    x = as_node(x)
    return Where(Greater(x, 0), x, Mul(negative_slope, x))


def softplus(x):
    """log(1 + e**x), stable for inputs of any size."""
    return Softplus(x)


def maximum(a, b):
    """Elementwise maximum; at ties the gradient goes to `a`."""
    a, b = as_nodes(a, b)
    return Where(GreaterEqual(a, b), a, b)


def minimum(a, b):
    """Elementwise minimum; at ties the gradient goes to `a`."""
    a, b = as_nodes(a, b)
    return Where(LessEqual(a, b), a, b)


def where(cond, a, b):
    """a where cond, else b. The branch not taken gets an exact zero gradient (see
    `Where` for when that keeps a gradient free of NaN)."""
    return Where(cond, a, b)


def stop_gradient(x):
    """x's value, with no gradient flowing back into x: ``grad`` treats it as a constant.
    ``ad.grad(ad.stop_gradient(x) * x, [x])`` is x, not 2x."""
    return StopGradient(x)


def clip(x, a_min=None, a_max=None, *, min=None, max=None):
    """x limited to [a_min, a_max] (either may be None); ``min=``/``max=`` are the same
    bounds by numpy 2's keyword names."""
    for name, old, new in (("min", a_min, min), ("max", a_max, max)):
        if old is not None and new is not None:
            raise TypeError(f"clip: give a_{name} or {name}, not both")
    a_min = a_min if min is None else min
    a_max = a_max if max is None else max
    x = as_node(x)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def less(a, b):
    """a < b elementwise (boolean, no gradient)."""
    return Less(a, b)


def less_equal(a, b):
    """a <= b elementwise (boolean, no gradient)."""
    return LessEqual(a, b)


def greater(a, b):
    """a > b elementwise (boolean, no gradient)."""
    return Greater(a, b)


def greater_equal(a, b):
    """a >= b elementwise (boolean, no gradient)."""
    return GreaterEqual(a, b)


def equal(a, b):
    """a == b elementwise (boolean, no gradient). The ``==`` operator on nodes stays
    identity, so that nodes can be dict keys."""
    return Equal(a, b)


# --- reductions ------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Sum over `axis` (None: all), as an einsum, in numpy's dtype (booleans and small
    integers sum in the default integer)."""
    x = as_node(x)
    axes = normalize_axes("sum", x, axis)
    if sum_dtype(x.dtype) != x.dtype:
        x = Cast(x, sum_dtype(x.dtype))
    result = Einsum(_sum_subscripts(x.ndim, axes), x) if axes else x
    if keepdims:
        result = Reshape(result, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return result


@functools.lru_cache(maxsize=1024)
def _sum_subscripts(ndim, axes):
    """The einsum subscripts summing `axes` of `ndim` dimensions (``"abc->b"``)."""
    labels = LETTERS[:ndim]
    return labels + "->" + "".join(l for i, l in enumerate(labels) if i not in axes)


def mean(x, axis=None, keepdims=False):
    """Mean over `axis` (None: all), in numpy's dtype (float64 for integers and booleans)."""
    return Mean(x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Maximum over `axis`; tied maxima share the gradient."""
    return ReduceMax(x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 (numpy's name)
    """Minimum over `axis`; tied minima share the gradient."""
    return ReduceMin(x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    """Product over `axis`; its gradient is exact where elements are zero."""
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
    return Subtract(x, LogSumExp(x, axis, keepdims=True))


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
    a, b = normalize_axis("swapaxes", x, axis1), normalize_axis("swapaxes", x, axis2)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return Transpose(x, order)


def expand_dims(x, axis):
    """Insert size-1 axes at `axis` (an int or a tuple of ints, positions in the result,
    as numpy's)."""
    if isinstance(axis, (int, np.integer)):
        return ExpandDims(x, axis)
    x = as_node(x)
    axes = tuple(axis)
    ndim = x.ndim + len(axes)
    positions = sorted(a + ndim if -ndim <= a < 0 else a for a in axes)
    if len(set(positions)) != len(positions) or any(not 0 <= a < ndim for a in positions):
        raise ValueError(f"expand_dims: axes {axes} of a result with {ndim} dimensions must "
                         f"be distinct and in range (x {x.describe()})")
    for a in positions:  # in increasing order, each position is final when inserted
        x = ExpandDims(x, a)
    return x


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or those in `axis`)."""
    x = as_node(x)
    if axis is None:
        axis = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return Squeeze(x, axis)


def broadcast_to(x, shape):
    """numpy broadcasting to `shape`."""
    return BroadcastTo(x, shape)


def concatenate(nodes, axis=0):
    """Join a sequence of nodes along an existing axis (``axis=None``: flattened first,
    as numpy's)."""
    if axis is None:
        return Concat(*[reshape(n, (-1,)) for n in as_nodes(*nodes)], axis=0)
    return Concat(*nodes, axis=axis)


def stack(nodes, axis=0):
    """Join a sequence of equal-shaped nodes along a new axis."""
    nodes = as_nodes(*nodes)
    if not nodes:
        raise ValueError("stack: needs at least one operand")
    if len({n.shape for n in nodes}) > 1:
        raise ValueError("stack: operands " + ", ".join(n.describe() for n in nodes)
                         + " must all have the same shape")
    return Concat(*[expand_dims(n, axis) for n in nodes], axis=axis)


def pad(x, pad_width, mode="constant", constant_values=0):
    """numpy.pad with ``mode="constant"`` (``pad_width`` and ``constant_values`` in any of
    numpy's forms)."""
    if not isinstance(mode, str):
        raise TypeError(f"pad: the third argument is numpy's `mode` (only 'constant' is "
                        f"supported); got {mode!r}: pass the value as constant_values=")
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; only 'constant'")
    return Pad(x, pad_width, constant_values)


def zeros_like(x):
    """A constant of zeros with `x`'s shape and dtype."""
    x = as_node(x)
    return Constant(np.zeros(x.shape, dtype=x.dtype))


def ones_like(x):
    """A constant of ones with `x`'s shape and dtype."""
    x = as_node(x)
    return Constant(np.ones(x.shape, dtype=x.dtype))


def index(x, item):
    """x[item] with numpy basic or integer-array indexing."""
    return Slice(x, item)


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
        return Mul(a, b)
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
    axes_a = [normalize_axis("tensordot", a, x) for x in axes_a]
    axes_b = [normalize_axis("tensordot", b, x) for x in axes_b]
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
    a1, a2 = normalize_axis("diagonal", x, axis1), normalize_axis("diagonal", x, axis2)
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
