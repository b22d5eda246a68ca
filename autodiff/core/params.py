"""Hashable stand-ins for op parameters, so that parameters can be part of a node's key."""
import numpy as np


def freeze(value):
    """A hashable stand-in for a parameter value (lists, dicts, slices, arrays, dtypes)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return value.item()
    return value
