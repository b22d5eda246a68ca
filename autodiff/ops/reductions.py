"""Reductions that are not plain sums (sums are einsums): max, min, prod, logsumexp,
softmax.

Each takes numpy's ``axis`` (None, an int or a tuple) and ``keepdims``. Values are
computed in numerically stable forms (the maximum subtracted before exponentiating).
"""
import numpy as np

from ..core.dtypes import float_result, mean_dtype, sum_dtype
from ..core.node import Node, as_node
from ..core.shapes import normalize_axes
from .arithmetic import Divide, Mul, Subtract
from .einsum import Transpose
from .elementary import Exp
from .logic import Cast, Equal
from .shape_ops import BroadcastTo, Pad, Reshape, ReduceSumKeepDims, Slice

__all__ = ["Mean", "ReduceMax", "ReduceMin", "Prod", "LogSumExp", "Softmax"]


class Reduction(Node):
    """Base: a reduction over ``axis`` with numpy's ``keepdims`` semantics."""

    elementwise = False
    finite = True

    def __init__(self, x, axis=None, keepdims=False, *, name=None):
        x = as_node(x)
        axis = normalize_axes(type(self).__name__, x, axis)
        if self.needs_elements:
            empty = [a for a in axis if x.shape[a] == 0]
            if empty:
                raise ValueError(f"{type(self).__name__}: cannot reduce {x.describe()} over "
                                 f"axis {empty[0]} of size 0: there is no element to take")
        super().__init__(x, name=name, axis=axis, keepdims=bool(keepdims))

    #: True for reductions without an identity (max, min): an empty axis has no answer.
    needs_elements = False

    def infer_shape(self, shape):
        if self.keepdims:
            return tuple(1 if i in self.axis else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in self.axis)

    def kept_shape(self):
        """The output shape with the reduced axes kept as size 1."""
        return tuple(1 if i in self.axis else d for i, d in enumerate(self.children[0].shape))

    def expand(self, node):
        """`node` (of this op's output shape) reshaped to keep the reduced axes."""
        return node if self.keepdims else Reshape(node, self.kept_shape())

    def batch(self, operands, batched, size):
        return type(self)(operands[0], tuple(a + 1 for a in self.axis), self.keepdims)


class Mean(Reduction):
    """Mean over axes, as numpy.mean computes it (integers and booleans average in float64).

    The count it divides by comes from the operand's shape, so a graph rebuilt for inputs
    of another shape divides by the new count."""

    op_label = "mean"

    def infer_dtype(self, dtype):
        return mean_dtype(dtype)

    def forward(self, x):
        return np.mean(x, axis=self.axis, keepdims=self.keepdims)

    def lower_jax(self, lowering, x):
        count = int(np.prod([x.shape[a] for a in self.axis], dtype=np.int64))
        total = lowering.sum(x.astype(self.dtype), self.axis, keepdims=self.keepdims)
        return total / count if count else total * np.nan

    def lower_dask(self, lowering, x):
        return lowering.reduce("mean", x, self.axis, self.keepdims, self.dtype)

    def vjp(self, g):
        x = self.children[0]
        count = int(np.prod([x.shape[a] for a in self.axis], dtype=np.int64))
        scaled = Mul(self.expand(g), 1.0 / count if count else float("nan"))
        return [BroadcastTo(scaled, x.shape)]


class ReduceMax(Reduction):
    """Maximum over axes. The gradient is shared equally between tied maxima."""

    op_label = "max"
    needs_elements = True
    reduce = staticmethod(np.max)

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        return self.reduce(x, axis=self.axis, keepdims=self.keepdims)

    def lower_jax(self, lowering, x):
        reduce = lowering.jnp.max if self.reduce is np.max else lowering.jnp.min
        return reduce(x, axis=self.axis, keepdims=self.keepdims)

    def lower_dask(self, lowering, x):
        return lowering.reduce(self.reduce.__name__, x, self.axis, self.keepdims)

    def vjp(self, g):
        x = self.children[0]
        is_extreme = Cast(Equal(x, self.expand(self)), self.dtype)
        count = ReduceSumKeepDims(is_extreme, self.axis)
        return [Mul(Divide(self.expand(g), count), is_extreme)]


class ReduceMin(ReduceMax):
    """Minimum over axes. The gradient is shared equally between tied minima."""

    op_label = "min"
    reduce = staticmethod(np.min)


class Prod(Reduction):
    """Product over axes (numpy's dtype: small integers multiply in the default integer).

    Its gradient is the product of the *other* elements, computed without dividing by
    the element (so it is exact where elements are 0) as the product of exclusive running
    products from the left and from the right (`others_product`).
    """

    op_label = "prod"

    def infer_dtype(self, dtype):
        return sum_dtype(dtype)

    def forward(self, x):
        return np.prod(x, axis=self.axis, keepdims=self.keepdims)

    def lower_jax(self, lowering, x):
        return lowering.jnp.prod(x, axis=self.axis, keepdims=self.keepdims, dtype=self.dtype)

    def lower_dask(self, lowering, x):
        return lowering.reduce("prod", x, self.axis, self.keepdims, self.dtype)

    def vjp(self, g):
        x = self.children[0]
        return [Mul(self.expand(g), others_product(x, self.axis))]


def others_product(x, axes):
    """For each element of `x`, the product of the other elements along `axes`, as a
    graph of products, pads and slices (differentiable again, with no division)."""
    rest = [a for a in range(x.ndim) if a not in axes]
    order = rest + list(axes)
    moved = x if order == list(range(x.ndim)) else Transpose(x, order)
    kept = tuple(x.shape[a] for a in rest)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    flat = Reshape(moved, kept + (n,))
    left = _shift(_running_product(flat, n, from_left=True), 1, n, from_left=True)
    right = _shift(_running_product(flat, n, from_left=False), 1, n, from_left=False)
    others = Reshape(Mul(left, right), moved.shape)
    if order == list(range(x.ndim)):
        return others
    return Transpose(others, list(np.argsort(order)))


def _running_product(flat, n, from_left):
    """Inclusive running products along the last axis, in log2(n) doubling steps."""
    step = 1
    while step < n:
        flat = Mul(flat, _shift(flat, step, n, from_left))
        step *= 2
    return flat


def _shift(flat, d, n, from_left):
    """`flat` moved `d` places along its last axis (towards the end when `from_left`),
    filled with ones."""
    lead = (slice(None),) * (flat.ndim - 1)
    width = ((0, 0),) * (flat.ndim - 1)
    if d >= n:
        return Pad(Slice(flat, lead + (slice(0, 0),)), width + ((n, 0),), 1.0)
    if from_left:
        return Pad(Slice(flat, lead + (slice(0, n - d),)), width + ((d, 0),), 1.0)
    return Pad(Slice(flat, lead + (slice(d, n),)), width + ((0, d),), 1.0)


class LogSumExp(Reduction):
    """log(sum(exp(x))) over axes, stable for any finite input (-inf over an empty axis);
    gradient softmax(x)."""

    op_label = "logsumexp"

    def infer_dtype(self, dtype):
        return float_result(dtype)

    def forward(self, x):
        return logsumexp(x.astype(self.dtype, copy=False), self.axis, self.keepdims)

    def lower_jax(self, lowering, x):
        return logsumexp(x.astype(self.dtype), self.axis, self.keepdims, lowering.jnp)

    def lower_dask(self, lowering, x):
        x = x.astype(self.dtype)
        m = lowering.reduce("max", x, self.axis, keepdims=True)
        m = lowering.da.where(lowering.da.isfinite(m), m, 0)
        total = lowering.reduce("sum", lowering.da.exp(x - m), self.axis, keepdims=True)
        out = lowering.da.log(total) + m
        return out if self.keepdims else out.squeeze(axis=self.axis)

    def vjp(self, g):
        x = self.children[0]
        return [Mul(self.expand(g), Exp(Subtract(x, self.expand(self))))]


def logsumexp(x, axis, keepdims, xp=np):
    """Stable logsumexp with array module `xp` (numpy or jax.numpy): the max is subtracted
    first (and -inf rows stay -inf)."""
    shifted, m = shifted_by_max(x, axis, xp)
    with np.errstate(divide="ignore"):
        out = xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def shifted_by_max(x, axis, xp=np):
    """(x - m, m) with m the max of x along `axis` (kept), or 0 where that max is not
    finite (an all -inf row stays -inf instead of becoming NaN). (Array methods, not
    ``xp.max``: numpy's function forms cost twice as much on a training step's rows.)"""
    m = x.max(axis=axis, keepdims=True, initial=-np.inf)
    if xp is not np:
        m = xp.where(xp.isfinite(m), m, 0)
    elif not np.isfinite(m).all():  # numpy: skip two passes in the usual all-finite case
        m = np.where(np.isfinite(m), m, 0)
    return x - m, m


class Softmax(Node):
    """``Softmax(x, axis=-1)``: exp(x) / sum(exp(x)) along one axis, stable."""

    op_label = "softmax"
    elementwise = False
    finite = True

    def __init__(self, x, axis=-1, *, name=None):
        x = as_node(x)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"Softmax: axis must be one integer, got {axis!r} "
                            f"(operand {x.describe()})")
        super().__init__(x, name=name, axis=normalize_axes("Softmax", x, axis)[0])

    def infer_shape(self, shape):
        return shape

    def infer_dtype(self, dtype):
        return float_result(dtype)

    def forward(self, x):
        return softmax(x.astype(self.dtype, copy=False), self.axis)

    def lower_jax(self, lowering, x):
        return softmax(x.astype(self.dtype), self.axis, lowering.jnp)

    def lower_dask(self, lowering, x):
        x = x.astype(self.dtype)
        e = lowering.da.exp(x - lowering.reduce("max", x, self.axis, keepdims=True))
        return e / lowering.reduce("sum", e, self.axis, keepdims=True)

    def vjp(self, g):
        # s * (g - sum(g * s))
        weighted = ReduceSumKeepDims(Mul(g, self), (self.axis,))
        return [Mul(self, Subtract(g, weighted))]

    def batch(self, operands, batched, size):
        return Softmax(operands[0], self.axis + 1)


def softmax(x, axis, xp=np):
    """Stable softmax along `axis` with array module `xp` (numpy or jax.numpy)."""
    e = xp.exp(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)

