"""Shape rules shared by the ops: broadcasting, axis arguments and shape arguments.

Every check runs when a node is built and raises with the op's name, its operands and
their shapes, so bad input never reaches numpy as a traceback from evaluation.
"""
import numbers

import numpy as np


def describe_operands(operands):
    """``x (2, 3), <Add> (3,)``: operands named for error messages."""
    return ", ".join(o.describe() for o in operands)


def broadcast_shapes(op_name, operands):
    """numpy broadcasting of the operands' shapes; ValueError naming the op otherwise."""
    shapes = [o.shape for o in operands]
    if not shapes:
        return ()
    first = shapes[0]
    for s in shapes:
        if s != first:
            break
    else:  # the common case, without numpy's overhead
        return first
    key = tuple(shapes)
    known = _BROADCASTS.get(key)
    if known is not None:  # a bias added to a batch, at every step of a rebuilt graph
        return known
    # numpy's rule, in Python: np.broadcast_shapes builds arrays and costs several times
    # more on the few short shapes of a node
    ndim = max(map(len, shapes))
    result = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, d in enumerate(shape, offset):
            r = result[i]
            if d != r:
                if r == 1:
                    result[i] = d
                elif d != 1:
                    raise ValueError(
                        f"{op_name}: operands {describe_operands(operands)} cannot be "
                        f"broadcast together (numpy broadcasting: trailing dimensions must "
                        f"be equal or 1)")
    result = tuple(result)
    if len(_BROADCASTS) < _MAX_BROADCASTS:
        _BROADCASTS[key] = result
    return result


#: Shapes that broadcast, and their result: a graph rebuilt every step meets the same few.
_BROADCASTS = {}
_MAX_BROADCASTS = 4096


def _is_int(value):
    if type(value) is int:  # the common case, without the abstract-class check
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def normalize_axis(op_name, operand, axis, ndim=None):
    """`axis` as a non-negative index into `ndim` (default: the operand's) dimensions."""
    ndim = operand.ndim if ndim is None else ndim
    if not _is_int(axis):
        raise TypeError(f"{op_name}: axis must be an integer, got {axis!r} "
                        f"(operand {operand.describe()})")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op_name}: axis {axis} is out of range for operand "
                         f"{operand.describe()} with {ndim} dimension(s)")
    return int(axis) % ndim


def normalize_axes(op_name, operand, axes, ndim=None):
    """Sorted tuple of distinct non-negative axes; None means every axis. Accepts what
    numpy's ``axis=`` accepts: None, an integer, or a tuple or list of integers."""
    ndim = operand.ndim if ndim is None else ndim
    if axes is None:
        return tuple(range(ndim))
    if _is_int(axes):
        axes = (axes,)
    if not isinstance(axes, (tuple, list)) or not all(_is_int(a) for a in axes):
        raise TypeError(f"{op_name}: axis must be None, an integer or a tuple of integers, "
                        f"got {axes!r} (operand {operand.describe()})")
    result = tuple(sorted(normalize_axis(op_name, operand, a, ndim) for a in axes))
    if len(set(result)) != len(result):
        raise ValueError(f"{op_name}: repeated axis in {axes!r} (operand {operand.describe()})")
    return result


def shape_argument(op_name, shape, allow_minus_one=False):
    """A shape argument as a tuple of ints: an integer or a sequence of integers (numpy's
    rule); floats, strings and negative sizes are refused rather than truncated."""
    if type(shape) is tuple:  # the common case: a shape taken from another node
        for d in shape:
            if type(d) is not int or d < 0:
                break
        else:
            return shape
    items = (shape,) if _is_int(shape) else shape
    if isinstance(items, (str, bytes)) or not isinstance(items, (tuple, list, np.ndarray)) \
            or not all(_is_int(d) for d in items):
        raise TypeError(f"{op_name}: a shape must be an integer or a sequence of integers, "
                        f"got {shape!r}")
    items = tuple(int(d) for d in items)
    lowest = -1 if allow_minus_one else 0
    if any(d < lowest for d in items) or (allow_minus_one and items.count(-1) > 1):
        raise ValueError(f"{op_name}: invalid shape {shape!r}"
                         + (" (at most one -1, other sizes >= 0)" if allow_minus_one else
                            " (sizes must be >= 0)"))
    return items


def size_of(shape):
    """Number of elements of an array of `shape`."""
    size = 1
    for d in shape:
        size *= d
    return size
