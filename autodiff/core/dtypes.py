"""dtype rules: numpy's promotion, applied when a node is built.

A node's declared dtype is the dtype its kernel returns: the graph follows numpy exactly,
including its less obvious answers (``int8 * int8`` wraps in int8, the mean of booleans
is float64, ``exp`` of int8 is float16). An elementwise op's dtype is found by running
its own kernel on empty arrays (`kernel_dtype`), so the declaration and the computation
cannot disagree; other ops state their rule with the helpers below.

Python numbers are *weak* operands, as in numpy 2 (NEP 50): ``x * 2`` keeps x's dtype,
``int8_array * 2.5`` is float64 (`scalar_dtype`).
"""
import functools

import numpy as np

from .params import freeze

_CACHE_SIZE = 4096


def float_dtype(*dtypes):
    """numpy promotion of `dtypes`, made floating (integers and booleans give float64):
    the dtype of Variables and of values that must carry gradients."""
    return _float_dtype(dtypes)


@functools.lru_cache(maxsize=_CACHE_SIZE)  # few distinct dtype tuples; promotion is slow
def _float_dtype(dtypes):
    if not dtypes:
        return np.dtype(np.float64)
    result = np.result_type(*dtypes)
    return result if np.issubdtype(result, np.inexact) else np.dtype(np.float64)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def promote(*dtypes):
    """numpy's result dtype for operands of `dtypes` (``np.result_type``)."""
    return np.result_type(*dtypes)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def float_result(dtype):
    """The dtype numpy's floating functions (exp, log, ...) give for `dtype`: itself for
    floats, float16 for bool and 8-bit integers, float32 for 16-bit, float64 above."""
    return np.exp(np.zeros(0, dtype)).dtype


@functools.lru_cache(maxsize=_CACHE_SIZE)
def sum_dtype(dtype):
    """numpy's dtype for a sum or product: booleans and small integers accumulate in the
    default integer, unsigned ones in the default unsigned integer."""
    return np.zeros(1, dtype).sum().dtype


@functools.lru_cache(maxsize=_CACHE_SIZE)
def mean_dtype(dtype):
    """numpy's dtype for a mean: floats keep theirs, integers and booleans give float64."""
    return np.mean(np.zeros(1, dtype)).dtype


def scalar_dtype(value, like):
    """The dtype numpy gives a Python number `value` next to arrays of dtype `like`
    (weak promotion: 2 next to int8 is int8, 2.5 next to int8 is float64)."""
    if like is None:
        return np.asarray(value).dtype
    return np.result_type(like, value)


def is_python_scalar(value):
    """Python bool, int, float or complex (not numpy scalars, which are strong)."""
    return type(value) in (bool, int, float, complex)


class KernelDtypeError(TypeError):
    """numpy does not define the op for its operands' dtypes."""


def kernel_dtype(node, dtypes):
    """The dtype `node`'s forward returns for operands of `dtypes`, found by running it on
    empty arrays (cached per op class, parameters and dtypes). Raises KernelDtypeError
    when numpy rejects those dtypes (``-bool``, ``sign`` of a bool)."""
    key = (type(node), freeze(node.params) if node.params else (), tuple(dtypes))
    cached = _KERNEL_DTYPES.get(key)
    if cached is None:
        try:
            with np.errstate(all="ignore"):
                result = node.forward(*[np.zeros(0, d) for d in dtypes])
        except TypeError as err:  # numpy's UFuncTypeError is a TypeError
            raise KernelDtypeError(str(err)) from None
        cached = np.asarray(result).dtype
        if len(_KERNEL_DTYPES) >= _CACHE_SIZE:
            _KERNEL_DTYPES.clear()
        _KERNEL_DTYPES[key] = cached
    return cached


_KERNEL_DTYPES = {}

