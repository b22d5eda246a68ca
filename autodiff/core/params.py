"""Hashable stand-ins for op parameters, so that parameters can be part of a node's key."""
import numpy as np

_PLAIN = (int, float, str, bool, type(None), np.dtype)


def freeze(value):
    """A hashable stand-in for a parameter value (lists, dicts, slices, arrays, dtypes)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple:
        for item in value:  # tuples of numbers (shapes, axes) are already hashable
            if type(item) not in _PLAIN:
                return tuple(freeze(v) for v in value)
        return value
    if kind is dict:
        if len(value) == 1:  # most ops have one parameter (subscripts, a shape, axes)
            (key, item), = value.items()
            return ((key, item if type(item) in _PLAIN else freeze(item)),)
        items = sorted(value.items())
        if all(type(v) in _PLAIN for _, v in items):  # the usual parameters: as they are
            return tuple(items)
        return tuple((k, freeze(v)) for k, v in items)
    if hasattr(kind, "structure_key"):  # a value that says what makes two of it equal
        return (kind, value.structure_key())
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


def frozen_params(node):
    """`freeze(node.params)`, worked out once per node: a graph rebuilt every step has
    its signature taken every step, and parameters never change after a node is built.
    (Kept with the dictionary it froze, so a node whose params are replaced is frozen
    again.)"""
    params = node.params
    if not params:
        return ()
    cached = node.__dict__.get("_frozen_params")
    if cached is not None and cached[0] is params:
        return cached[1]
    frozen = freeze(params)
    node._frozen_params = (params, frozen)
    return frozen

