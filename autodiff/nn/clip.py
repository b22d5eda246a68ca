"""Gradient clipping with PyTorch's formulas, on gradient values (numpy arrays) or on
gradient nodes (so that clipping is part of a compiled training step, with
``opt.updates``).

Both functions return new values and leave their inputs untouched: gradient values
returned by an evaluation may be read-only views, so nothing is clipped in place.
None entries (no gradient) pass through.
"""
import numpy as np

from ..core.node import Node
from ..ops.functions import clip, minimum, sqrt, sum as reduce_sum


def clip_grad_value(grads, clip_value):
    """Each gradient clipped elementwise to [-clip_value, clip_value]
    (``torch.nn.utils.clip_grad_value_``). Returns a list of new arrays."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value: clip_value must be >= 0, got {clip_value}")
    return [None if g is None else clip(g, -clip_value, clip_value) if isinstance(g, Node)
            else np.clip(g, -clip_value, clip_value) for g in grads]


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    """Scale all gradients together so their global norm is at most `max_norm`
    (``torch.nn.utils.clip_grad_norm_``).

    The total norm is the `norm_type` norm of the per-gradient norms (``inf``: the
    largest absolute entry). Every gradient is multiplied by min(1, max_norm / (total +
    1e-6)), as in PyTorch. Returns ``(clipped gradients, total norm before clipping)``.
    """
    grads = list(grads)
    if any(isinstance(g, Node) for g in grads):
        return _clip_nodes_by_norm(grads, float(max_norm), float(norm_type))
    present = [np.asarray(g) for g in grads if g is not None]
    norm_type = float(norm_type)
    if not present:
        return grads, 0.0
    if norm_type == np.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in present)
    else:
        norms = np.array([np.linalg.norm(g.ravel(), norm_type) for g in present])
        total = float(np.linalg.norm(norms, norm_type))
    scale = min(1.0, float(max_norm) / (total + 1e-6))
    return [None if g is None else np.asarray(g) * scale for g in grads], total


def _clip_nodes_by_norm(grads, max_norm, norm_type):
    """`clip_grad_norm` for gradient nodes (the 2-norm): (clipped nodes, total norm node)."""
    if norm_type != 2.0:
        raise ValueError("clip_grad_norm: on gradient nodes only the 2-norm (norm_type=2)")
    present = [g for g in grads if g is not None]
    if not present:
        return grads, 0.0
    squares = reduce_sum(present[0] * present[0])
    for g in present[1:]:
        squares = squares + reduce_sum(g * g)
    total = sqrt(squares)
    scale = minimum(max_norm / (total + 1e-6), 1.0)
    return [None if g is None else g * scale for g in grads], total
