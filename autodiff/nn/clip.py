"""Gradient clipping on gradient values (numpy arrays), with PyTorch's formulas.

Both functions return new arrays and leave their inputs untouched: gradient values
returned by an evaluation may be read-only views, so nothing is clipped in place.
None entries (no gradient) pass through.
"""
import numpy as np


def clip_grad_value(grads, clip_value):
    """Each gradient clipped elementwise to [-clip_value, clip_value]
    (``torch.nn.utils.clip_grad_value_``). Returns a list of new arrays."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value: clip_value must be >= 0, got {clip_value}")
    return [None if g is None else np.clip(g, -clip_value, clip_value) for g in grads]


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    """Scale all gradients together so their global norm is at most `max_norm`
    (``torch.nn.utils.clip_grad_norm_``).

    The total norm is the `norm_type` norm of the per-gradient norms (``inf``: the
    largest absolute entry). Every gradient is multiplied by min(1, max_norm / (total +
    1e-6)), as in PyTorch. Returns ``(clipped gradients, total norm before clipping)``.
    """
    grads = list(grads)
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
