"""Reductions that are not plain sums (sums are einsums): max, prod, logsumexp, softmax.

Each takes numpy's ``axis`` (None, an int or a tuple) and ``keepdims``. Values are
computed in the numerically stable forms (the maximum subtracted before exponentiating).
"""
import numpy as np

from ..core.node import Node
from .elementwise import Mul, Subtract, Exp, Equal, Divide, Cast, strong_mul
from .shape_ops import normalize_axes, Reshape, ReduceSumKeepDims


class Reduction(Node):
    """Base: a reduction over ``axis`` with numpy's ``keepdims`` semantics."""

    def __init__(self, x, axis=None, keepdims=False, name=None):
        from ..core.node import as_node
        x = as_node(x)
        super().__init__(x, name=name, axis=normalize_axes(self, axis, x.ndim),
                         keepdims=bool(keepdims))

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


class ReduceMax(Reduction):
    """Maximum over axes. The gradient is shared equally between tied maxima."""

    op_label = "max"

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        return np.max(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, g):
        x = self.children[0]
        is_max = Cast(Equal(x, self.expand(self)), self.dtype)
        count = ReduceSumKeepDims(is_max, self.axis)
        return [Mul(Divide(self.expand(g), count), is_max)]


class Prod(Reduction):
    """Product over axes. Gradient: product / x (so it is undefined where x is exactly 0)."""

    op_label = "prod"

    def forward(self, x):
        return np.prod(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, g):
        x = self.children[0]
        return [strong_mul(self.expand(g), Divide(self.expand(self), x))]


class LogSumExp(Reduction):
    """log(sum(exp(x))) over axes, stable for any finite input; gradient softmax(x)."""

    op_label = "logsumexp"

    def forward(self, x):
        return logsumexp(x, self.axis, self.keepdims)

    def vjp(self, g):
        x = self.children[0]
        return [Mul(self.expand(g), Exp(Subtract(x, self.expand(self))))]


def logsumexp(x, axis, keepdims):
    """Stable numpy logsumexp: the max is subtracted first (and -inf rows stay -inf)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


class Softmax(Node):
    """``Softmax(x, axis=-1)``: exp(x) / sum(exp(x)) along one axis, stable."""

    op_label = "softmax"

    def __init__(self, x, axis=-1, name=None):
        from ..core.node import as_node
        x = as_node(x)
        super().__init__(x, name=name, axis=normalize_axes(self, axis, x.ndim)[0])

    def infer_shape(self, shape):
        return shape

    def forward(self, x):
        return softmax(x, self.axis)

    def vjp(self, g):
        # s * (g - sum(g * s))
        weighted = ReduceSumKeepDims(Mul(g, self), (self.axis,))
        return [Mul(self, Subtract(g, weighted))]


def softmax(x, axis):
    """Stable numpy softmax along `axis`."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
