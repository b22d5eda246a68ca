"""Sliding windows over the two spatial axes of ``(N, C, H, W)`` nodes, for convolution
and pooling.

A window stack is built from slices only: for each kernel offset (i, j) one strided basic
slice of the (padded) input, ``x[:, :, i*d : ... : s, j*d : ... : s]``, and the slices
stacked on a new axis 2, giving ``(N, C, KH*KW, OH, OW)``. Slices are views, so the
forward copies the input once per kernel offset (the stack); the gradient of each slice
is a basic-index scatter, which is much faster than the ``np.add.at`` that an
integer-array gather would need.
"""
import numpy as np

from ...ops.functions import pad, stack


def pair(value, what):
    """(a, b) from an int or a pair, checked to be integers."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, (int, np.integer)) for v in value):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return int(value[0]), int(value[1])


def output_size(size, kernel, stride, pad_lo, pad_hi, dilation, ceil_mode=False):
    """Number of window positions along one axis (PyTorch's rule, ceil mode included:
    the last window must start inside the input or the left padding)."""
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    if (n - 1) * stride >= size + pad_lo:
        n -= 1
    return n


def padded(x, pads, value=0.0):
    """x padded on the spatial axes by ``pads = ((top, bottom), (left, right))``."""
    if not any(any(p) for p in pads):
        return x
    return pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=value)


def windows(x, kernel, stride, dilation, out):
    """The windows of `x` (N, C, H, W; already padded) as (N, C, KH*KW, OH, OW)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    slices = []
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            slices.append(x[:, :, rows, cols])
    return stack(slices, axis=2)


def check_input(layer, x, channels=None):
    """Raise unless `x` is (N, C, H, W) or unbatched (C, H, W) with `channels` channels."""
    if x.ndim not in (3, 4) or (channels is not None and x.shape[-3] != channels):
        want = f"{channels}" if channels is not None else "C"
        raise ValueError(f"{type(layer).__name__}: input {x.describe()} must be "
                         f"(N, {want}, H, W) or ({want}, H, W)")
