"""The graph: `Node`, its leaves `Variable` and `Constant`, and lifting of plain values.

Contract
--------
* A node is immutable once built. Its `children` (inputs, in order), its declared
  parameters, its `shape` and `dtype` are fixed by the constructor; shape and dtype are
  inferred there, so a mismatch raises when the graph is built, not when it runs.
* Only a `Variable`'s value changes. Evaluation never caches values on nodes, so a
  result is never stale.
* Nodes are hashable by identity (`==` is identity), so they are dict keys.

Writing an op
-------------
Subclass `Node`, pass the inputs and the parameters to `Node.__init__`, and define

* ``infer_shape(self, *shapes)`` (default: numpy broadcasting of the inputs),
* ``infer_dtype(self, *dtypes)`` (default: numpy type promotion, made floating),
* ``forward(self, *values)``: the numpy computation,
* ``vjp(self, g)``: one cotangent node (or ``None`` for "no gradient") per child,
  written with graph-building ops so that it can be differentiated again. A cotangent
  may have the output's shape: the gradient transform sums broadcasting away.
"""
import functools

import numpy as np

from . import context


class Node:
    """Base class of every operation in an expression graph.

    ``Node(*children, name=None, **params)``: children are nodes or values (values become
    `Constant` nodes); params are the op's parameters, stored as attributes and used for
    equality of structure (`key`) and printing.
    """

    #: False for ops whose output carries no gradient at all (comparisons, masks).
    differentiable = True
    #: Short operator label for printing and pictures; defaults to the class name.
    op_label = None
    #: True for ops whose value is a view into their first child's value (no new buffer);
    #: the evaluation schedule counts such a value as free when the child is stored.
    returns_view = False
    #: True for ops whose two operands can be swapped without changing a bit of the value
    #: (interning then treats ``a op b`` and ``b op a`` as one node).
    commutative = False

    def __init__(self, *children, name=None, **params):
        self.children = tuple(as_node(c) for c in children)
        self.name = name
        self.params = params
        for key, value in params.items():
            setattr(self, key, value)
        self.shape = tuple(map(int, self.infer_shape(*[c.shape for c in self.children])))
        dtype = self.infer_dtype(*[c.dtype for c in self.children])
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        context.on_node_built(self)

    # --- rules an op overrides -------------------------------------------------------
    def infer_shape(self, *shapes):
        """Output shape from the children's shapes; default is numpy broadcasting."""
        return broadcast_shapes(self, shapes)

    def infer_dtype(self, *dtypes):
        """Output dtype from the children's dtypes; default is promotion to a float type."""
        return float_dtype(*dtypes)

    def forward(self, *values):
        """Compute the value from the children's numpy values."""
        raise NotImplementedError(f"{type(self).__name__} defines no forward computation")

    def vjp(self, g):
        """Cotangent nodes for the children, given the output cotangent node `g`."""
        raise NotImplementedError(
            f"{type(self).__name__} has no derivative rule (vjp); it cannot be differentiated")

    def kernel(self):
        """The callable the runtime calls with the children's values.

        Override to return a faster callable (a bare numpy ufunc) when possible.
        """
        return self.forward

    # --- structure ---------------------------------------------------------------------
    @property
    def ndim(self):
        """Number of dimensions of the value."""
        return len(self.shape)

    @property
    def size(self):
        """Number of elements of the value."""
        return int(np.prod(self.shape, dtype=np.int64))

    def key(self):
        """Structural identity: equal keys mean the nodes compute the same value."""
        ids = tuple(id(c) for c in self.children)
        if self.commutative and len(ids) == 2 and ids[0] > ids[1]:
            ids = ids[::-1]  # a*b and b*a are one node (exactly equal in floating point)
        return (type(self), freeze(self.params), ids)

    @property
    def label(self):
        """Short operator name used in printing and pictures."""
        return self.op_label or type(self).__name__

    def __repr__(self):
        name = f" {self.name}" if self.name else ""
        return f"<{type(self).__name__}{name} shape={self.shape} {self.dtype}>"

    def describe(self):
        """Name and shape, for error messages: ``x (2, 3)`` or ``<Add> (2, 3)``."""
        return f"{self.name or '<' + type(self).__name__ + '>'} {self.shape}"

    # --- evaluation ----------------------------------------------------------------------
    def eval(self, feed=None):
        """Value of this node for the current Variable values (or those in `feed`)."""
        from ..runtime.evaluate import evaluate
        return evaluate(self, feed)

    __call__ = eval

    # --- operators and methods (defined with the ops, see ops/methods.py) -------------
    __array_ufunc__ = None  # numpy defers to our reflected operators: array + node is a node
    __hash__ = object.__hash__


class Variable(Node):
    """A leaf whose value the user sets: ``x = Variable(np.ones(3), name="x"); x.value = ...``.

    Integer and boolean values are stored as float64 (gradients need a float type); float32
    stays float32. The shape is fixed when the Variable is made, because every node built
    on it has inferred its shape from it.
    """

    def __init__(self, value, name=None):
        array = _float_array(value)
        self._value = array
        super().__init__(name=name)

    def infer_shape(self):
        return self._value.shape

    def infer_dtype(self):
        return self._value.dtype

    def key(self):
        return (Variable, id(self))

    @property
    def value(self):
        """The current value (a numpy array)."""
        return self._value

    @value.setter
    def value(self, new):
        array = np.asarray(new)
        check_value_shape(self, array)
        self._value = np.array(array, dtype=self.dtype)


class Constant(Node):
    """A fixed leaf. Python numbers and numpy arrays passed to ops become Constants."""

    differentiable = False

    def __init__(self, value, name=None, dtype=None):
        self.value = np.asarray(value, dtype=dtype)
        if self.value.dtype == object or not np.issubdtype(self.value.dtype, np.number) \
                and self.value.dtype != bool:
            raise TypeError(f"Constant: expected a number or numeric array, got {value!r}")
        super().__init__(name=name)

    def infer_shape(self):
        return self.value.shape

    def infer_dtype(self):
        return self.value.dtype

    def key(self):
        v = self.value
        if v.size <= 64:  # small constants compare by value; large ones by identity
            return (Constant, v.dtype.str, v.shape, v.tobytes())
        return (Constant, id(self))

    def __repr__(self):
        if self.value.size <= 4:
            return f"<Constant {self.value.tolist()!r} {self.dtype}>"
        return super().__repr__()


def check_value_shape(variable, array):
    """Raise if `array` cannot be the value of `variable` (a fixed-shape leaf)."""
    if array.shape != variable.shape:
        raise ValueError(
            f"Variable {variable.describe()}: got a value of shape {array.shape}, expected "
            f"{variable.shape}. Shapes are fixed when a graph is built; make a new Variable "
            f"for a new shape.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"Variable {variable.describe()}: value of dtype {array.dtype} is not numeric")


def _float_array(value):
    array = np.array(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"Variable: expected a number or numeric array, got {value!r}")
    if not np.issubdtype(array.dtype, np.inexact):
        array = array.astype(np.float64)
    return array


def as_node(value, dtype=None):
    """Return `value` if it is a Node, else a Constant holding it (cast to `dtype` if given)."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (list, tuple)) and any(isinstance(v, Node) for v in value):
        raise TypeError("a list containing nodes is not a value; use ad.stack or ad.concatenate")
    return Constant(value, dtype=dtype)


def as_nodes(*values):
    """Lift values to nodes; bare Python numbers take the float dtype of the node operands.

    This keeps float32 graphs float32 (numpy's rule for Python scalars), instead of letting
    ``x * 2`` promote to float64.
    """
    dtypes = [v.dtype for v in values if isinstance(v, Node)]
    like = float_dtype(*dtypes) if dtypes else None
    return [v if isinstance(v, Node)
            else as_node(v, dtype=like if isinstance(v, (int, float, bool)) and like else None)
            for v in values]


def float_dtype(*dtypes):
    """numpy promotion of `dtypes`, made floating (integers and booleans give float64)."""
    return _float_dtype(dtypes)


@functools.lru_cache(maxsize=None)  # few distinct dtype tuples; promotion is slow in numpy
def _float_dtype(dtypes):
    if not dtypes:
        return np.dtype(np.float64)
    result = np.result_type(*dtypes)
    return result if np.issubdtype(result, np.inexact) else np.dtype(np.float64)


def broadcast_shapes(op, shapes):
    """numpy broadcasting of `shapes`; raises ValueError naming `op` and its operands."""
    first = shapes[0] if shapes else ()
    if all(s == first for s in shapes):  # the common case, without numpy's overhead
        return first
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        operands = ", ".join(c.describe() for c in op.children)
        raise ValueError(
            f"{type(op).__name__}: operands {operands} cannot be broadcast together "
            f"(numpy broadcasting: trailing dimensions must be equal or 1)") from None


def freeze(value):
    """A hashable stand-in for a parameter value (lists, dicts, slices, arrays)."""
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
