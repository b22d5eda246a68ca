"""Operators and array-like methods on `Node`: ``+ - * / ** @``, reflected forms, unary
``-``, comparisons, indexing, ``.T``, ``.sum()``, ``.mean()``, ``.reshape()`` and friends.

`==` is deliberately left as identity, so nodes stay usable as dict keys; use
`Equal` for an elementwise comparison node.
"""
from ..core.node import Node
from . import elementwise as ew
from . import functions as F


def _documented(method, doc):
    method.__doc__ = doc
    return method


def _binary(fn):
    return _documented(lambda self, other: fn(self, other), fn.__doc__)


def _reflected(fn):
    return _documented(lambda self, other: fn(other, self),
                       f"Reflected form (other op self): {fn.__doc__}")


def _no_truth_value(self):
    raise TypeError(f"{self!r} has no truth value: it is a graph node, not a value. "
                    "Evaluate it (node()) or use ad.where for a choice inside the graph.")


def _len(self):
    if not self.shape:
        raise TypeError(f"len() of a 0-d node {self!r}")
    return self.shape[0]


METHODS = {
    "__add__": _binary(F.add), "__radd__": _reflected(F.add),
    "__sub__": _binary(F.subtract), "__rsub__": _reflected(F.subtract),
    "__mul__": _binary(F.multiply), "__rmul__": _reflected(F.multiply),
    "__truediv__": _binary(F.divide), "__rtruediv__": _reflected(F.divide),
    "__pow__": _binary(F.power), "__rpow__": _reflected(F.power),
    "__matmul__": _binary(F.matmul), "__rmatmul__": _reflected(F.matmul),
    "__neg__": _documented(lambda self: ew.Negate(self), "-x."),
    "__pos__": _documented(lambda self: self, "+x (the node itself)."),
    "__abs__": _documented(lambda self: ew.Abs(self), "|x|."),
    "__lt__": _binary(ew.Less), "__le__": _binary(ew.LessEqual),
    "__gt__": _binary(ew.Greater), "__ge__": _binary(ew.GreaterEqual),
    "__getitem__": _documented(lambda self, item: F.index(self, item), F.index.__doc__),
    "__bool__": _no_truth_value,
    "__len__": _len,
    "T": property(lambda self: F.transpose(self), doc="The node with its axes reversed."),
    "sum": _documented(lambda self, axis=None, keepdims=False: F.sum(self, axis, keepdims),
                      F.sum.__doc__),
    "mean": _documented(lambda self, axis=None, keepdims=False: F.mean(self, axis, keepdims),
                       F.mean.__doc__),
    "max": _documented(lambda self, axis=None, keepdims=False: F.max(self, axis, keepdims),
                      F.max.__doc__),
    "min": _documented(lambda self, axis=None, keepdims=False: F.min(self, axis, keepdims),
                      F.min.__doc__),
    "reshape": _documented(lambda self, *shape: F.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape),
        "x.reshape(2, 3) or x.reshape((2, 3)): " + F.reshape.__doc__),
    "transpose": _documented(lambda self, *axes: F.transpose(
        self, (axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes) or None),
        "x.transpose(1, 0) or x.transpose((1, 0)): " + F.transpose.__doc__),
    "dot": _binary(F.dot),
}


def install():
    """Attach the operators and methods to `Node` (done once, on import of autodiff)."""
    for name, method in METHODS.items():
        setattr(Node, name, method)
