"""Parameter initialisers with PyTorch's names, formulas and defaults.

Each ``name_(var, ..., rng=None)`` draws a new value for the Variable `var` (keeping its
shape and dtype), sets it, and returns `var`, like ``torch.nn.init.name_``. `rng` is a
``numpy.random.Generator``, an integer seed, or None for fresh OS entropy; values follow
the same distributions as PyTorch's (not the same numbers: the generators differ).

Fans follow PyTorch: for a weight of shape ``(out, in, *kernel)``, ``fan_in = in *
prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""
import math

import numpy as np


def generator(rng=None):
    """A ``numpy.random.Generator`` from a Generator (returned as is), a seed, or None."""
    return np.random.default_rng(rng)


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight of `shape` (at least 2-D), as PyTorch computes them."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight of at least 2 dimensions, "
                         f"got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def _set(var, array):
    var.value = np.asarray(array, dtype=var.dtype).reshape(var.shape)
    return var


def uniform_(var, a=0.0, b=1.0, rng=None):
    """Fill `var` from U(a, b)."""
    return _set(var, generator(rng).uniform(a, b, var.shape))


def normal_(var, mean=0.0, std=1.0, rng=None):
    """Fill `var` from N(mean, std**2)."""
    return _set(var, generator(rng).normal(mean, std, var.shape))


def constant_(var, value):
    """Fill `var` with `value`."""
    return _set(var, np.full(var.shape, value))


def zeros_(var):
    """Fill `var` with zeros."""
    return constant_(var, 0.0)


def ones_(var):
    """Fill `var` with ones."""
    return constant_(var, 1.0)


def xavier_uniform_(var, gain=1.0, rng=None):
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(var.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(var, -bound, bound, rng)


def xavier_normal_(var, gain=1.0, rng=None):
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(var.shape)
    return normal_(var, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(shape, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(var, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's default for Linear
    and Conv weights is ``a=sqrt(5)``, which gives b = 1 / sqrt(fan_in)."""
    bound = math.sqrt(3.0) * _kaiming_std(var.shape, a, mode, nonlinearity)
    return uniform_(var, -bound, bound, rng)


def kaiming_normal_(var, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He normal: N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(var, 0.0, _kaiming_std(var.shape, a, mode, nonlinearity), rng)
