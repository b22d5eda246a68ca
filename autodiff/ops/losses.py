"""Fused loss ops, computed in forms that stay finite at any finite input."""
import numpy as np

from ..core.dtypes import float_result, sum_dtype
from ..core.context import cotangent_needed
from ..core.node import Constant, Node, as_nodes
from .arithmetic import Divide, Mul, Negate, Subtract, strong_mul
from .elementary import Sigmoid, Sqrt
from .reductions import LogSumExp, Softmax, logsumexp
from .shape_ops import BroadcastTo, ExpandDims, ReduceSumKeepDims, Reshape

__all__ = ["SoftmaxCEWithLogits", "SigmoidCEWithLogits", "SquaredDifference", "FrobeniusNorm"]


class SoftmaxCEWithLogits(Node):
    """``SoftmaxCEWithLogits(labels, logits)``: cross-entropy of softmax(logits) against
    label distributions over the last axis; one value per row (shape ``logits.shape[:-1]``).

    Value: sum(labels * (logsumexp(z) - z)), the cross-entropy -sum(labels * log_softmax(z))
    for any labels (not only distributions). Gradients: wrt logits
    softmax(z) * sum(labels) - labels; wrt labels logsumexp(z) - z.
    """

    op_label = "softmax_ce"
    elementwise = False
    finite = True

    def __init__(self, labels, logits, *, name=None):
        super().__init__(*as_nodes(labels, logits), name=name)

    def infer_shape(self, labels, logits):
        if labels != logits or not logits:
            raise ValueError(f"SoftmaxCEWithLogits: labels {self.children[0].describe()} and "
                             f"logits {self.children[1].describe()} must have the same shape "
                             f"(at least 1-D; one row of class scores per example)")
        return logits[:-1]

    def forward(self, labels, logits):
        return _softmax_ce(labels, logits.astype(self.dtype), np)

    def lower_jax(self, lowering, labels, logits):
        return _softmax_ce(labels, logits.astype(self.dtype), lowering.jnp)

    def lower_dask(self, lowering, labels, logits):
        da = lowering.da
        labels, logits = da.asarray(labels), da.asarray(logits).astype(self.dtype)
        m = lowering.reduce("max", logits, -1, keepdims=True)
        lse = da.log(lowering.reduce("sum", da.exp(logits - m), -1, keepdims=True)) + m
        return lowering.reduce("sum", labels * (lse - logits), -1)

    def batch(self, operands, batched, size):
        """Rows are independent: both operands get the batch axis (one by broadcasting)."""
        labels, logits = [o if b else BroadcastTo(o, (size,) + o.shape)
                          for o, b in zip(operands, batched)]
        return SoftmaxCEWithLogits(labels, logits)

    def vjp(self, g):
        labels, logits = self.children
        g_row = ExpandDims(g, -1)
        parts = [None, None]
        if cotangent_needed(0):
            log_probs = Subtract(logits, LogSumExp(logits, axis=-1, keepdims=True))
            parts[0] = Negate(Mul(g_row, log_probs))
        if cotangent_needed(1):
            probs = Softmax(logits, axis=-1)
            if isinstance(labels, Constant):  # one-hot rows or distributions: sums known now
                total = labels.value.sum(axis=-1, keepdims=True)
                weighted = probs if np.all(total == 1) else Mul(probs, total)
            else:
                weighted = Mul(probs, ReduceSumKeepDims(labels, (labels.ndim - 1,)))
            parts[1] = Mul(g_row, Subtract(weighted, labels))
        return parts


class SigmoidCEWithLogits(Node):
    """``SigmoidCEWithLogits(labels, logits)``: elementwise binary cross-entropy of
    sigmoid(logits), as ``max(z, 0) - z*y + log1p(exp(-abs(z)))``; gradient sigmoid(z) - y."""

    op_label = "sigmoid_ce"
    elementwise = finite = True

    def __init__(self, labels, logits, *, name=None):
        super().__init__(*as_nodes(labels, logits), name=name)

    def forward(self, y, z):
        return _sigmoid_ce(y, z, np)

    def lower_jax(self, lowering, y, z):
        return _sigmoid_ce(y, z, lowering.jnp)

    def vjp(self, g):
        labels, logits = self.children
        return [Negate(Mul(g, logits)) if cotangent_needed(0) else None,
                Mul(g, Subtract(Sigmoid(logits), labels)) if cotangent_needed(1) else None]


class SquaredDifference(Node):
    """``SquaredDifference(a, b)``: (a - b)**2 elementwise."""

    op_label = "sqdiff"
    elementwise = finite = True

    def __init__(self, a, b, *, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def forward(self, a, b):
        d = a - b
        return d * d

    def lower_jax(self, lowering, a, b):
        return self.forward(a, b)

    def vjp(self, g):
        a, b = self.children
        twice = Mul(Mul(2, g), Subtract(a, b))
        return [twice, Negate(twice)]


class FrobeniusNorm(Node):
    """``FrobeniusNorm(x)``: sqrt(sum(x**2)) over all elements (a scalar)."""

    op_label = "norm"
    elementwise = False
    finite = True

    def infer_shape(self, shape):
        return ()

    def infer_dtype(self, dtype):
        return float_result(sum_dtype(dtype) if dtype.kind in "biu" else dtype)

    def forward(self, x):
        return np.sqrt(np.sum(x * x))

    def lower_jax(self, lowering, x):
        return lowering.jnp.sqrt(lowering.sum(x * x, range(x.ndim)))

    def lower_dask(self, lowering, x):
        return lowering.da.sqrt(lowering.reduce("sum", x * x, None))

    def vjp(self, g):
        x = self.children[0]
        return [strong_mul(g, Divide(x, self))]

    def batch(self, operands, batched, size):
        """One norm per batch row: sqrt of the sum of squares over the other axes."""
        x = operands[0]
        squares = ReduceSumKeepDims(Mul(x, x), tuple(range(1, x.ndim)))
        return Sqrt(Reshape(squares, (size,)))


# --- the values, for numpy and jax.numpy (`xp`) ------------------------------------------

def _softmax_ce(labels, logits, xp):
    """sum(labels * (logsumexp(z) - z)) over the last axis."""
    lse = logsumexp(logits, -1, True, xp)
    return xp.sum(labels * (lse - logits), axis=-1)


def _sigmoid_ce(y, z, xp):
    """max(z, 0) - z*y + log1p(exp(-abs(z))): no overflow for any z."""
    return xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
