"""One log-softmax for a softmax cross-entropy and its gradient in the same plan.

``SoftmaxCEWithLogits(y, z)`` and the cotangent its derivative sends to the logits,
``SoftmaxCEGrad(y, z, g)``, each take the softmax of z's rows (a max, an exp, a sum).
When a plan holds both (a training step), the planner runs one step computing the rows'
log-softmax and both read it: the loss from it with the same operations as its own
kernel, so its value is unchanged to the bit; the gradient as exp(log-softmax), which may
differ from the fused kernel's in the last bit (as the derivative sums the planner
regroups may). About a fifth less work per time step of a recurrent network, and the
logits die after the forward step instead of living until the backward one.
"""
import numpy as np

from ..core.node import Node
from ..ops.losses import SoftmaxCEGrad, SoftmaxCEWithLogits

#: The ops that read the shared log-softmax.
READERS = (SoftmaxCEWithLogits, SoftmaxCEGrad)


class LogSoftmaxRows(Node):
    """log-softmax over the last axis, made by the planner for `READERS` (users write
    ``ad.log_softmax``)."""

    op_label = "log_softmax"
    arity = 1
    elementwise = False
    finite = True

    def infer_shape(self, shape):
        return shape

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, logits):
        """z - max - log(sum(exp(z - max))): the terms the loss kernel forms, in place."""
        shifted = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)
        shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return shifted


def loss_from_log_softmax(labels, log_probs):
    """`SoftmaxCEWithLogits`' value: sum(labels * (log_total - shifted)), the same bits."""
    return np.negative((labels * log_probs).sum(axis=-1))


def grad_kernel(unit_rows):
    """`SoftmaxCEGrad`'s value g * (softmax * sum(labels) - labels) from the log-softmax."""
    def grad_from_log_softmax(labels, log_probs, g):
        g = g[..., None]
        probs = np.exp(log_probs)
        probs *= g if unit_rows else labels.sum(axis=-1, keepdims=True) * g
        probs -= labels * g
        return probs
    return grad_from_log_softmax


def paired_rows(order):
    """{(id(labels), id(logits))} of the losses in `order` whose logits' cotangent is in
    `order` too, all of one floating dtype."""
    losses, grads = set(), set()
    for node in order:
        if type(node) in READERS:
            labels, logits = node.children[:2]
            if labels.dtype == logits.dtype == node.dtype and node.dtype.kind == "f":
                (losses if type(node) is SoftmaxCEWithLogits else grads).add(
                    (id(labels), id(logits)))
    return losses & grads


def reader_kernel(node):
    """The kernel of `node` (one of `READERS`) on (labels, log-softmax[, g])."""
    if type(node) is SoftmaxCEWithLogits:
        return loss_from_log_softmax
    return grad_kernel(node.unit_rows)
