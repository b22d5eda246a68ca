"""Fused loss ops, computed in forms that stay finite at any finite input."""
import numpy as np

from ..core.dtypes import float_result, sum_dtype
from ..core.context import cotangent_needed
from ..core.node import Constant, Node, as_nodes
from .arithmetic import Divide, Mul, Negate, Subtract, strong_mul
from .elementary import Sigmoid, Sqrt
from .reductions import LogSumExp, Softmax
from .shape_ops import BroadcastTo, ExpandDims, ReduceSumKeepDims, Reshape

__all__ = ["SoftmaxCEWithLogits", "SoftmaxCEGrad", "SigmoidCEWithLogits", "SquaredDifference",
           "FrobeniusNorm"]


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

    def vjp_facts(self):
        """Whether the labels are constant rows summing to 1 (`SoftmaxCEGrad` reads it)."""
        return known_unit_rows(self.children[0])

    def vjp(self, g):
        labels, logits = self.children
        parts = [None, None]
        if cotangent_needed(0):
            log_probs = Subtract(logits, LogSumExp(logits, axis=-1, keepdims=True))
            parts[0] = Negate(Mul(ExpandDims(g, -1), log_probs))
        if cotangent_needed(1):
            parts[1] = SoftmaxCEGrad(labels, logits, g)
        return parts


class SoftmaxCEGrad(Node):
    """``SoftmaxCEGrad(labels, logits, g)``: the cotangent `SoftmaxCEWithLogits` sends
    to its logits for the row cotangent `g` (shape ``logits.shape[:-1]``):
    ``g[..., None] * (softmax(logits) * sum(labels, -1) - labels)``, of the logits' shape.

    One fused kernel, as the loss is one: a training step differentiates a loss per time
    step or batch, and five nodes (softmax, two products, a difference, a row sum) cost
    more in kernel calls and graph building than the arithmetic. Its own derivatives
    (second order) are built from those ops.
    """

    op_label = "softmax_ce_grad"
    elementwise = False
    finite = True

    def __init__(self, labels, logits, g, *, name=None):
        labels, logits, g = as_nodes(labels, logits, g)
        super().__init__(labels, logits, g, name=name, unit_rows=known_unit_rows(labels))

    def infer_shape(self, labels, logits, g):
        if labels != logits or not logits or g != logits[:-1]:
            raise ValueError(f"SoftmaxCEGrad: labels {self.children[0].describe()} and logits "
                             f"{self.children[1].describe()} must have one shape, and the row "
                             f"cotangent {self.children[2].describe()} that shape without its "
                             f"last axis")
        return logits

    def forward(self, labels, logits, g):
        return _softmax_ce_grad(labels, logits.astype(self.dtype, copy=False), g,
                                self.unit_rows, np)

    def lower_jax(self, lowering, labels, logits, g):
        return _softmax_ce_grad(labels, logits.astype(self.dtype), g, self.unit_rows,
                                lowering.jnp)

    def lower_dask(self, lowering, labels, logits, g):
        da = lowering.da
        labels, logits = da.asarray(labels), da.asarray(logits).astype(self.dtype)
        e = da.exp(logits - lowering.reduce("max", logits, -1, keepdims=True))
        scale = 1 / lowering.reduce("sum", e, -1, keepdims=True)
        if not self.unit_rows:
            scale = scale * lowering.reduce("sum", labels, -1, keepdims=True)
        return (e * scale - labels) * da.asarray(g)[..., None]

    def vjp(self, c):
        labels, logits, g = self.children
        g_row, probs = ExpandDims(g, -1), Softmax(logits, axis=-1)
        total = None if self.unit_rows else ReduceSumKeepDims(labels, (labels.ndim - 1,))
        weighted = probs if total is None else Mul(probs, total)
        row = c.ndim - 1
        scaled = Mul(c, g_row)
        parts = [None, None, None]
        if cotangent_needed(0):  # d/dlabels: -c g, plus the sum's share through softmax
            parts[0] = Negate(scaled) if total is None else Subtract(
                ReduceSumKeepDims(Mul(scaled, probs), (row,)), scaled)
        if cotangent_needed(1):  # softmax's own rule for the cotangent c g sum(labels)
            u = scaled if total is None else Mul(scaled, total)
            parts[1] = Mul(probs, Subtract(u, ReduceSumKeepDims(Mul(u, probs), (row,))))
        if cotangent_needed(2):
            parts[2] = Reshape(ReduceSumKeepDims(Mul(c, Subtract(weighted, labels)), (row,)),
                               g.shape)
        return parts

    def batch(self, operands, batched, size):
        """Rows are independent: every operand gets the batch axis (by broadcasting)."""
        labels, logits, g = [o if b else BroadcastTo(o, (size,) + o.shape)
                             for o, b in zip(operands, batched)]
        return SoftmaxCEGrad(labels, logits, g)


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
    """sum(labels * (logsumexp(z) - z)) over the last axis, with the max subtracted once:
    logsumexp(z) - z = log(sum(exp(z - m))) - (z - m). (A row with no finite max gives
    NaN however m is chosen, so none is treated apart; numpy's warnings are off while a
    plan runs.)"""
    shifted = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)
    log_total = xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
    if xp is not np:
        return (labels * (log_total - shifted)).sum(axis=-1)
    # the same operations in place: on a training step's rows, allocations cost as much
    # as the arithmetic
    np.subtract(log_total, shifted, out=shifted)
    shifted *= labels
    return shifted.sum(axis=-1)


def known_unit_rows(labels):
    """Whether `labels` is a Constant of one-hot rows or distributions (rows summing to 1):
    then the gradient need not compute their sums."""
    return isinstance(labels, Constant) and bool((labels.value.sum(axis=-1) == 1).all())


def _softmax_ce_grad(labels, logits, g, unit_rows, xp):
    """g[..., None] * (softmax(z) * sum(labels) - labels), softmax computed once."""
    g = g[..., None]
    if xp is not np:
        e = xp.exp(logits - logits.max(axis=-1, keepdims=True, initial=-np.inf))
        scale = 1 / e.sum(axis=-1, keepdims=True)
        if not unit_rows:
            scale = scale * labels.sum(axis=-1, keepdims=True)
        return (e * scale - labels) * g
    e = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)  # then in place
    np.exp(e, out=e)
    scale = g / e.sum(axis=-1, keepdims=True)
    if not unit_rows:
        scale *= labels.sum(axis=-1, keepdims=True)
    e *= scale
    e -= labels * g
    return e


def _sigmoid_ce(y, z, xp):
    """max(z, 0) - z*y + log1p(exp(-abs(z))): no overflow for any z."""
    return xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
