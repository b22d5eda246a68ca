"""Loss functions with PyTorch's semantics (``torch.nn.functional``), built from graph ops.

Contract
--------
* Every loss takes ``reduction="mean" | "sum" | "none"`` as PyTorch does, and returns a
  node; ``"none"`` keeps one value per element (or per row, for the cross-entropies).
* Class scores are on the **last** axis (``(..., C)``), as for ``ad.softmax``; PyTorch
  puts them on axis 1 for inputs of more than two dimensions.
* Class labels are either integer indices of shape ``logits.shape[:-1]``, given as a
  numpy array (made one-hot rows for `softmax_cross_entropy`, whose graph then has the
  same structure for every batch; gathered with integer-array indexing when the graph
  is built for `nll_loss`) or as a node
  (compared against ``arange(C)`` inside the graph, so labels can be a Variable fed at
  every call of a compiled function), or class probabilities of the logits' shape
  (one-hot rows, smoothed labels).
* ``ignore_index`` (integer labels) drops those rows; "mean" then averages over the rows
  kept, as PyTorch does.
* All losses stay finite, with finite gradients, at logits of +-1e4: they use
  logsumexp, log-softmax and the fused sigmoid/softmax cross-entropy ops, never
  log(softmax) or log(sigmoid).
"""
import numpy as np

from ..core.node import Node, Constant, as_node
from ..ops.logic import Cast, Equal
from ..ops.functions import (expand_dims, logsumexp, sum as reduce_sum, mean as reduce_mean,
                             softplus)
from ..ops.losses import SoftmaxCEWithLogits, SigmoidCEWithLogits, SquaredDifference

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values, reduction, what):
    if reduction == "mean":
        return reduce_mean(values)
    if reduction == "sum":
        return reduce_sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"{what}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def mse_loss(input, target, reduction="mean"):  # noqa: A002 (PyTorch's argument name)
    """Squared error (input - target)**2 (broadcasting), reduced: ``F.mse_loss``."""
    return _reduce(SquaredDifference(input, target), reduction, "mse_loss")


def softmax_cross_entropy(logits, labels, reduction="mean", ignore_index=-100):
    """Cross-entropy of softmax(logits) against labels: ``F.cross_entropy(logits, labels)``.

    `logits` is (..., C). `labels` is integer indices of shape ``logits.shape[:-1]`` (a
    numpy array, or a node holding integer values) or class probabilities of the logits'
    shape (one-hot rows, smoothed labels; any non-negative weights). Per row:
    logsumexp(z) - z[label] for indices, -sum(labels * log_softmax(z)) for probabilities
    (the fused ``SoftmaxCEWithLogits`` op). Rows whose label is `ignore_index` count for
    nothing (integer labels only).
    """
    logits = as_node(logits)
    if logits.ndim == 0:
        raise ValueError(f"softmax_cross_entropy: logits {logits.describe()} need a class axis")
    if _is_distribution(logits, labels):
        return _reduce(SoftmaxCEWithLogits(labels, logits), reduction, "softmax_cross_entropy")
    if isinstance(labels, Node):
        picked, keep = _pick(logits, labels, ignore_index, "softmax_cross_entropy")
        rows = logsumexp(logits, axis=-1) - picked
        return _masked_reduce(rows, keep, reduction, "softmax_cross_entropy")
    # numpy labels become one-hot rows (zero rows where ignored) for the fused op: the
    # graph's structure then does not depend on the labels' values, so a step rebuilt
    # with the next batch's labels reuses its derivative graph and its plan
    labels, kept = _checked_labels(logits, labels, ignore_index, "softmax_cross_entropy")
    one_hot = (labels[..., None] == np.arange(logits.shape[-1])) & kept[..., None]
    rows = SoftmaxCEWithLogits(Constant(one_hot.astype(logits.dtype)), logits)
    keep = None if kept.all() else Constant(kept.astype(logits.dtype))
    return _masked_reduce(rows, keep, reduction, "softmax_cross_entropy")


def nll_loss(log_probs, labels, reduction="mean", ignore_index=-100):
    """Negative log-likelihood -log_probs[label] per row: ``F.nll_loss``.

    `log_probs` is (..., C) (for example ``ad.log_softmax(z)``); `labels` are integer
    indices of shape ``log_probs.shape[:-1]`` (a numpy array or a node).
    """
    log_probs = as_node(log_probs)
    if log_probs.ndim == 0:
        raise ValueError(f"nll_loss: log_probs {log_probs.describe()} need a class axis")
    picked, keep = _pick(log_probs, labels, ignore_index, "nll_loss")
    return _masked_reduce(-picked, keep, reduction, "nll_loss")


def binary_cross_entropy_with_logits(logits, targets, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], elementwise:
    ``F.binary_cross_entropy_with_logits``.

    Per element: ``max(z, 0) - z*y + log(1 + e**-|z|)``; with `pos_weight` (broadcast
    along the last axis), ``(1 - y) z + (1 + (pos_weight - 1) y) softplus(-z)``. `weight`
    rescales each element's loss.
    """
    logits = as_node(logits)
    if pos_weight is None:
        values = SigmoidCEWithLogits(targets, logits)
    else:
        targets = as_node(targets)
        log_weight = 1 + (as_node(pos_weight) - 1) * targets
        values = (1 - targets) * logits + log_weight * softplus(-logits)
    if weight is not None:
        values = values * weight
    return _reduce(values, reduction, "binary_cross_entropy_with_logits")


# --- helpers ---------------------------------------------------------------------------

def _is_distribution(logits, labels):
    """True for probability labels (the logits' shape), False for class indices."""
    shape = labels.shape if isinstance(labels, Node) else np.shape(labels)
    if tuple(shape) == logits.shape:
        return True
    if tuple(shape) != logits.shape[:-1]:
        raise ValueError(f"labels of shape {tuple(shape)} fit neither logits "
                         f"{logits.describe()} (probabilities) nor {logits.shape[:-1]} "
                         f"(class indices)")
    return False


def _pick(scores, labels, ignore_index, what):
    """(scores[..., label] per row, 0/1 mask of kept rows or None when all are kept)."""
    classes = scores.shape[-1]
    if isinstance(labels, Node):
        if labels.shape != scores.shape[:-1]:
            raise ValueError(f"{what}: labels {labels.describe()} must have shape "
                             f"{scores.shape[:-1]} (one class index per row)")
        # one-hot inside the graph, so the labels may change between evaluations
        one_hot = Cast(Equal(expand_dims(labels, -1), Constant(np.arange(classes))),
                       scores.dtype)
        picked = reduce_sum(one_hot * scores, axis=-1)
        keep = 1 - Cast(Equal(labels, ignore_index), scores.dtype)
        return picked, keep
    labels, kept = _checked_labels(scores, labels, ignore_index, what)
    safe = np.where(kept, labels, 0)
    index = tuple(np.indices(labels.shape, sparse=True)) + (safe,)
    picked = scores[index]
    keep = None if kept.all() else Constant(kept.astype(scores.dtype))
    return picked, keep


def _checked_labels(scores, labels, ignore_index, what):
    """(`labels` as an integer array, the mask of rows not ignored), checked against the
    scores (..., C)."""
    classes = scores.shape[-1]
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{what}: class labels must be integers, got dtype {labels.dtype}")
    if labels.shape != scores.shape[:-1]:
        raise ValueError(f"{what}: labels of shape {labels.shape} must have shape "
                         f"{scores.shape[:-1]} (one class index per row of "
                         f"{scores.describe()})")
    kept = labels != ignore_index
    if ((labels[kept] < 0) | (labels[kept] >= classes)).any():
        raise IndexError(f"{what}: labels must be in [0, {classes}) (or ignore_index "
                         f"{ignore_index}), got values from {labels.min()} to {labels.max()}")
    return labels, kept


def _masked_reduce(rows, keep, reduction, what):
    if keep is None:
        return _reduce(rows, reduction, what)
    rows = rows * keep
    if reduction == "mean":  # PyTorch: the mean over the rows that are not ignored
        return reduce_sum(rows) / reduce_sum(keep)
    return _reduce(rows, reduction, what)
