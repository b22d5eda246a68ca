"""The graph: `Node`, its leaves `Variable` and `Constant`, and lifting of plain values.

Contract
--------
* A node is immutable once built. Its `children` (inputs, in order), its declared
  parameters, its `shape` and `dtype` are fixed by the constructor, which checks the
  operand count and infers shape and dtype: a mismatch raises when the graph is built,
  naming the op and its operands, never later from inside numpy.
* Only a `Variable`'s value changes. Evaluation never stores values on nodes, so a
  result is never stale.
* Nodes are hashable by identity (``==`` is identity), so they are dict keys.
* Everything about an op lives on its class: its traits (below), shape and dtype rules,
  numpy computation (`forward`), derivative rule (`vjp`), optional forward-mode (`jvp`)
  and batching (`batch`) rules, and its backend lowerings. Passes ask the op.

Writing an op
-------------
Subclass `Node` and define

* ``forward(self, *values)``: the numpy computation (or set ``ufunc = np.something``);
* ``vjp(self, g)``: one cotangent node (or ``None`` for "no gradient") per child,
  written with graph-building ops so that it can be differentiated again; a cotangent may
  have the output's shape, since the gradient transform sums broadcasting away;
* optionally ``infer_shape(self, *shapes)`` (default: numpy broadcasting),
  ``infer_dtype(self, *dtypes)`` (default: what `forward` returns, for elementwise ops),
  ``jvp(self, tangents)`` and ``batch(self, operands, batched, size)``, and traits.

Operands are passed to ``Node.__init__`` positionally, parameters as keywords. An op
without a constructor of its own takes exactly as many operands as its `forward` has
arguments (`arity`) and no parameters.
"""
import copy
import inspect

import numpy as np

from . import context
from .dtypes import KernelDtypeError, float_dtype, is_python_scalar, kernel_dtype, scalar_dtype
from .params import freeze
from .shapes import broadcast_shapes, describe_operands


_SERIALS, _current_scope, _current_mark = context.stamps()


class _OpType(type):
    """Makes a call with the wrong arguments name the op and its signature (``Mul takes
    (a, b, *, name=None, strong_zero=False)``) instead of Python's ``__init__() takes 3
    positional arguments``."""

    def __call__(cls, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except TypeError as err:
            if err.__traceback__.tb_next is not None or "__init__()" not in str(err):
                raise  # raised inside the constructor: already about the op
            signature = inspect.signature(cls.__init__)
            try:
                signature.bind(None, *args, **kwargs)
            except TypeError as reason:
                shown = str(signature).replace("(self, ", "(", 1)
                raise TypeError(f"{cls.__name__}{shown}: {reason}") from None
            raise


class Node(metaclass=_OpType):
    """Base class of every operation in an expression graph.

    ``Node(*children, name=None, **params)``: children are nodes or values (values become
    `Constant` nodes); params are the op's parameters, stored as attributes and used for
    equality of structure (`key`) and printing.
    """

    # --- traits: facts about the op that transforms, rewrites and backends read ---------
    #: Number of operands (None: any number). Inferred from `ufunc` or `forward`.
    arity = None
    #: False for ops whose output carries no gradient at all (comparisons, masks).
    differentiable = True
    #: Output element i depends only on element i of each (broadcast) operand: batching
    #: broadcasts, `derivative` accepts the op, forward mode derives `jvp` from `vjp`.
    #: None (the default for user ops) means "not declared".
    elementwise = None
    #: The value is finite whenever the operands are (bounded, or polynomial growth):
    #: rewrites may then drop strong zeros and replace ``x * 0`` by 0.
    finite = False
    #: The op is linear in its single operand (reshapes, sums, slices): its jvp is the op
    #: applied to the tangent.
    linear = False
    #: Swapping the two operands changes no bit of the value (``a*b`` and ``b*a`` are one
    #: node when interned).
    commutative = False
    #: The value is a view into the first child's value (no new buffer).
    returns_view = False
    #: A numpy ufunc computing `forward` (its kernel, arity, dtype rule and lowering).
    ufunc = None
    #: Short operator label for printing and pictures; defaults to the class name.
    op_label = None
    #: For a node `ad.grad` returned: the (y, w) pairs it is the derivative d y / d w of.
    gradient_of = ()
    #: For a node a transformation returned: (transform, args, kwargs, index), the call
    #: that made it (core/derivation.py), so the graph can be rebuilt for new shapes.
    derived_by = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "arity" in vars(cls):
            return
        if vars(cls).get("ufunc") is not None:
            cls.arity = cls.ufunc.nin
        elif "forward" in vars(cls):
            cls.arity = _positional_arity(cls.forward)

    def __init__(self, *children, name=None, **params):
        # Every node of every graph passes here, a thousand times a training step when the
        # graph is rebuilt: the common cases take the short paths.
        cls = type(self)
        arity = cls.arity
        if arity is not None and len(children) != arity:
            _refuse_strings(cls.__name__, children)
            raise TypeError(f"{cls.__name__} takes {_operand_count(cls)}, got {len(children)}"
                            + (f": {describe_operands(as_nodes(*children))}" if children else ""))
        if params:
            if cls.__init__ is Node.__init__:
                raise TypeError(f"{cls.__name__} takes no parameters, got "
                                + ", ".join(f"{k}={v!r}" for k, v in params.items()))
            self.__dict__.update(params)
        if name is not None and type(name) is not str:
            raise TypeError(f"{cls.__name__}: name must be a string, got {name!r}")
        for child in children:
            if not isinstance(child, Node):
                children = tuple(as_node(c) for c in children)
                break
        self.children = children
        self.name = name
        self.params = params
        shape = self.infer_shape(*[c.shape for c in children])
        if type(shape) is not tuple:
            shape = tuple(map(int, shape))
        else:
            for d in shape:
                if type(d) is not int:
                    shape = tuple(map(int, shape))
                    break
        self.shape = shape
        dtype = self.infer_dtype(*[c.dtype for c in children])
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        # context.on_node_built, inlined (a call per node is a tenth of building one)
        self.serial = next(_SERIALS)
        self.scope = _current_scope()
        self.derivative_of = _current_mark()

    # --- rules an op overrides -------------------------------------------------------
    def infer_shape(self, *shapes):
        """Output shape from the children's shapes; default is numpy broadcasting."""
        return broadcast_shapes(type(self).__name__, self.children)

    def infer_dtype(self, *dtypes):
        """Output dtype from the children's dtypes. Default: for elementwise ops and ufuncs,
        what `forward` returns for those dtypes (numpy's own promotion); otherwise numpy
        promotion made floating."""
        if self.elementwise or self.ufunc is not None:
            try:
                return kernel_dtype(self, dtypes)
            except KernelDtypeError as err:
                raise TypeError(f"{type(self).__name__}: numpy does not support operands "
                                f"{_with_dtypes(self.children)}: {err}") from None
        return float_dtype(*dtypes)

    def forward(self, *values):
        """Compute the value from the children's numpy values."""
        if self.ufunc is not None:
            return self.ufunc(*values)
        raise NotImplementedError(f"{type(self).__name__} defines no forward computation")

    def vjp(self, g):
        """Cotangent nodes for the children, given the output cotangent node `g`."""
        raise NotImplementedError(
            f"{type(self).__name__} has no derivative rule (vjp); it cannot be differentiated")

    def vjp_facts(self):
        """What `vjp` reads beyond the graph's structure (ops, parameters, shapes, dtypes,
        how nodes connect), as a hashable value; None when that is not known.

        `grad` of a graph built again the same way (a training step) reuses the derivative
        graph it built the last time when the structure and these facts are the same
        (transforms/grad_reuse.py). The rules of autodiff's own ops read the structure
        alone, ``()``, or say what else they read (`Pow`: a constant exponent's value). A
        rule written elsewhere, a user's op, is not known to: None, and `grad` runs the
        rules every time. Such an op opts in by overriding this. An op that is not
        `differentiable` (a comparison) has no rule `grad` runs: ``()``."""
        if not self.differentiable:
            return ()
        module = getattr(type(self).vjp, "__module__", None) or ""
        return () if module.startswith("autodiff.ops.") else None

    def kernel(self):
        """The callable the runtime calls with the children's values: `ufunc` or
        `forward`. An op may return a faster callable computing exactly the same."""
        return self.ufunc if self.ufunc is not None else self.forward

    def lower_dask(self, lowering, *values):
        """The value from dask arrays, for the dask backend (`lowering.da` is dask.array).
        An op with a numpy `ufunc` applies it (dask arrays follow numpy's ufuncs); another
        elementwise op runs its own numpy kernel block by block."""
        if self.ufunc is not None:
            return self.ufunc(*values)
        if self.elementwise:
            return lowering.elemwise(lowering.kernel(self), *values, dtype=self.dtype)
        raise NotImplementedError(f"{type(self).__name__} has no dask lowering")

    def lower_jax(self, lowering, *values):
        """The value from jax arrays, for the jax backend (`lowering.jnp` is jax.numpy).
        An op with a numpy `ufunc` lowers to the jax.numpy function of the same name."""
        if self.ufunc is not None:
            return getattr(lowering.jnp, self.ufunc.__name__)(*values)
        raise NotImplementedError(f"{type(self).__name__} has no jax lowering")

    # --- structure ---------------------------------------------------------------------
    @property
    def ndim(self):
        """Number of dimensions of the value."""
        return len(self.shape)

    @property
    def size(self):
        """Number of elements of the value."""
        size = 1
        for d in self.shape:
            size *= d
        return size

    def key(self):
        """Structural identity: equal keys mean the nodes compute the same value."""
        ids = tuple(id(c) for c in self.children)
        if self.commutative and len(ids) == 2 and ids[0] > ids[1]:
            ids = ids[::-1]  # a*b and b*a are one node (exactly equal in floating point)
        return (type(self), freeze(self.params), ids)

    def with_children(self, children):
        """This op, with its parameters, applied to other children: a copy of the node
        with shape and dtype inferred again, marked by the current build context. (An op
        whose constructor derives state from its operands' shapes overrides this.)"""
        clone = copy.copy(self)
        clone.children = tuple(children)
        clone.__dict__.pop("gradient_of", None)
        clone.__dict__.pop("derived_by", None)
        clone.shape = tuple(map(int, clone.infer_shape(*[c.shape for c in clone.children])))
        clone.dtype = np.dtype(clone.infer_dtype(*[c.dtype for c in clone.children]))
        context.on_node_built(clone)
        return clone

    @property
    def label(self):
        """Short operator name used in printing and pictures."""
        return self.op_label or type(self).__name__

    def __repr__(self):
        """``<Add z: x*y + exp(x + 3), shape=() float64>``; the expression is shown for
        small graphs, and a gradient says what it differentiates (viz.text.node_repr)."""
        return _viz.node_repr(self)

    def describe(self):
        """Name and shape, for error messages: ``x (2, 3)`` or ``<Add> (2, 3)``."""
        return f"{self.name or '<' + type(self).__name__ + '>'} {self.shape}"

    # --- evaluation ----------------------------------------------------------------------
    def eval(self, feed=None):
        """Value of this node for the current Variable values.

        `feed` optionally maps Variables to values used for this call only:
        ``z.eval({x: 3.0})``. For repeated calls with new values, `ad.function` compiles
        a callable taking the values positionally.
        """
        if feed is not None and not isinstance(feed, dict):
            raise TypeError(
                f"{self!r}: calling a node takes no positional values, only an optional "
                f"feed dict {{Variable: value}}, e.g. z({{x: 3.0}}); got {feed!r}. For a "
                f"function of positional values use ad.function(z, inputs=[x])(3.0).")
        return _evaluate(self, feed)

    def __call__(self, feed=None):
        """``node()`` is ``node.eval()``: the value for the current Variable values."""
        return self.eval(feed)

    # --- operators and array-like methods -------------------------------------------
    # numpy defers to our reflected operators, so ``array + node`` is a node too.
    __array_ufunc__ = None
    # ``==`` stays identity so that nodes are dict keys; ad.Equal compares elementwise.
    __hash__ = object.__hash__

    def __add__(self, other):
        return _fn.add(self, other)

    def __radd__(self, other):
        return _fn.add(other, self)

    def __sub__(self, other):
        return _fn.subtract(self, other)

    def __rsub__(self, other):
        return _fn.subtract(other, self)

    def __mul__(self, other):
        return _fn.multiply(self, other)

    def __rmul__(self, other):
        return _fn.multiply(other, self)

    def __truediv__(self, other):
        return _fn.divide(self, other)

    def __rtruediv__(self, other):
        return _fn.divide(other, self)

    def __pow__(self, other):
        return _fn.power(self, other)

    def __rpow__(self, other):
        return _fn.power(other, self)

    def __matmul__(self, other):
        return _fn.matmul(self, other)

    def __rmatmul__(self, other):
        return _fn.matmul(other, self)

    def __neg__(self):
        return _fn.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _fn.abs(self)

    def __lt__(self, other):
        return _fn.less(self, other)

    def __le__(self, other):
        return _fn.less_equal(self, other)

    def __gt__(self, other):
        return _fn.greater(self, other)

    def __ge__(self, other):
        return _fn.greater_equal(self, other)

    def __getitem__(self, item):
        """``x[item]``: numpy basic and integer-array indexing."""
        return _fn.index(self, item)

    def __bool__(self):
        raise TypeError(f"{self!r} has no truth value: it is a graph node, not a value. "
                        "Evaluate it (node()) or use ad.where for a choice inside the graph.")

    def __len__(self):
        if not self.shape:
            raise TypeError(f"len() of a 0-d node {self!r}")
        return self.shape[0]

    def __iter__(self):
        raise TypeError(f"{self!r} is not iterable: index it (x[i]) or evaluate it first")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self!r} is a graph node, not an array: evaluate it first "
                        f"(np.asarray(node()))")

    @property
    def T(self):
        """The node with its axes reversed."""
        return _fn.transpose(self)

    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (see ad.sum)."""
        return _fn.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis` (see ad.mean)."""
        return _fn.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """Maximum over `axis` (see ad.max)."""
        return _fn.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        """Minimum over `axis` (see ad.min)."""
        return _fn.min(self, axis, keepdims)

    def reshape(self, *shape):
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))`` (see ad.reshape)."""
        return _fn.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        """``x.transpose(1, 0)`` or ``x.transpose((1, 0))``; no axes reverses them."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return _fn.transpose(self, axes or None)

    def dot(self, other):
        """numpy.dot (see ad.dot)."""
        return _fn.dot(self, other)

    # --- pictures ----------------------------------------------------------------------
    def plot_comp_graph(self, path="comp_graph.png", view=False, **options):
        """Render this node's graph to `path` (png, svg, pdf or dot); see
        ad.plot_comp_graph."""
        return _viz.plot_comp_graph(self, path, view=view, **options)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a node as a picture of its graph (see ad.viz)."""
        return _viz.notebook_bundle(self, include, exclude)


class Variable(Node):
    """A leaf whose value the user sets: ``x = Variable(np.ones(3), name="x"); x.value = ...``.

    Integer and boolean values are stored as float64 (gradients need a float type); float32
    stays float32. The shape is fixed when the Variable is made, because every node built
    on it has inferred its shape from it. The Variable keeps its own copy of the value.
    """

    elementwise = False
    arity = 0
    #: A compiled function holding this Variable's current value elsewhere (on a device),
    #: with ``sync(variable)`` to bring it back; None when `_value` is current.
    _holder = None

    def __init__(self, value, name=None):
        self._value = _float_array(value)
        super().__init__(name=name)

    @classmethod
    def placeholder(cls, shape, dtype, name=None):
        """A Variable of `shape` and `dtype` whose value is not used (it is fed at each
        call); its value is zeros that take no memory."""
        var = cls(np.zeros((), dtype=dtype), name=name)
        var._value = np.broadcast_to(var._value, tuple(shape))
        var.shape = tuple(int(d) for d in shape)
        return var

    def infer_shape(self):
        return self._value.shape

    def infer_dtype(self):
        return self._value.dtype

    def key(self):
        return (Variable, id(self))

    @property
    def value(self):
        """The current value (a numpy array)."""
        if self._holder is not None:
            self._holder.sync(self)
        return self._value

    @value.setter
    def value(self, new):
        if new is self._value and self._holder is None:
            # ``v.value -= lr * g``: numpy updated the Variable's own array in place and
            # Python assigns it back; a copy (of a whole weight matrix) would gain nothing
            return
        array = np.asarray(new)
        check_value_shape(self, array)
        self.set_value_owned(np.array(array, dtype=self.dtype))

    def set_value_owned(self, array):
        """Make `array` the value without copying it: the caller hands it over (it has the
        Variable's shape and dtype and nobody else writes into it)."""
        self._value = array
        self._holder = None


class Constant(Node):
    """A fixed leaf. Python numbers and numpy arrays passed to ops become Constants.

    The value is copied and made read-only when the Constant is built: changing the array
    passed in afterwards changes nothing in the graph.
    """

    differentiable = False
    elementwise = False
    arity = 0

    def __init__(self, value, name=None, dtype=None):
        array = np.array(value, dtype=dtype)
        kind = array.dtype.kind  # bool, integer, float, complex pass without numpy's walk
        if kind not in "biufc" and (kind == "O" or not np.issubdtype(array.dtype, np.number)):
            raise TypeError(f"Constant: expected a number or numeric array, got {value!r}")
        array.setflags(write=False)
        self.value = array
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
        raise TypeError(f"Variable {variable.describe()}: value of dtype {array.dtype} is not "
                        f"numeric")


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


def _refuse_strings(what, values):
    """A string among operands is almost always a name passed by position."""
    for v in values:
        if isinstance(v, str):
            raise TypeError(f"{what}: {v!r} is a string, not a number, array or node; a "
                            f"node's name is keyword-only: name={v!r}")


def as_nodes(*values):
    """Lift values to nodes with numpy's promotion of Python numbers: a bare int, float or
    bool is a *weak* operand taking the dtype numpy would give it next to the other
    operands (``x * 2`` keeps float32 and int8; ``int8 * 2.5`` is float64)."""
    for v in values:  # (a loop, not all(): this runs for every node built)
        if not isinstance(v, Node):
            break
    else:
        return values
    _refuse_strings("operands", values)
    if not any(map(is_python_scalar, values)):  # arrays: their own dtypes, nothing weak
        return [v if isinstance(v, Node) else as_node(v) for v in values]
    strong = [v.dtype if isinstance(v, Node) else np.asarray(v).dtype
              for v in values if not is_python_scalar(v)]
    like = np.result_type(*strong) if strong else None
    nodes = []
    for v in values:
        if isinstance(v, Node):
            nodes.append(v)
        elif is_python_scalar(v):
            nodes.append(_scalar_constant(v, scalar_dtype(v, like)))
        else:
            nodes.append(as_node(v))
    return nodes


def _scalar_constant(value, dtype):
    """The Constant of a Python number in `dtype`. Constants are immutable, so the few
    numbers a graph uses over and over (the 1 in 1 - t**2 of every tanh's derivative)
    are built once and shared."""
    key = (type(value), value, dtype)
    node = _SCALARS.get(key)
    if node is None:
        node = Constant(value, dtype=dtype)
        # shared by every graph: it belongs to none of them (no module scope, no
        # derivative mark that would place it in, and keep alive, the first one)
        node.scope, node.derivative_of = (), None
        if len(_SCALARS) < 1024:
            _SCALARS[key] = node
            _SHARED_IDS.add(id(node))
    return node


_SCALARS = {}


#: The ids of the Constants in _SCALARS (never removed, so the ids stay theirs).
_SHARED_IDS = set()


def is_shared_scalar(node):
    """Whether `node` is the one Constant shared by every graph for its number."""
    return id(node) in _SHARED_IDS


def _positional_arity(forward):
    """Number of operands a `forward(self, a, b)` takes; None for ``*values`` or defaults."""
    try:
        parameters = list(inspect.signature(forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty
           for p in parameters):
        return None
    return len(parameters)


def _operand_count(cls):
    n = cls.arity
    names = ""
    forward = vars(cls).get("forward") or getattr(cls, "forward", None)
    if cls.ufunc is None and forward is not None:
        try:
            args = list(inspect.signature(forward).parameters)[1:]
            names = f" ({', '.join(args)})" if len(args) == n else ""
        except (TypeError, ValueError):
            pass
    return f"{n} operand{'s' if n != 1 else ''}{names}"


def _with_dtypes(nodes):
    return ", ".join(f"{n.describe()} {n.dtype}" for n in nodes)


# Node's operators build op nodes, its evaluation runs the runtime and its pictures the viz
# package, and all of those subclass or read Node. They are imported here, once Node
# exists: the package's one import cycle, resolved by order instead of by imports hidden
# inside functions.
from ..ops import functions as _fn  # noqa: E402
from ..runtime.evaluation import evaluate as _evaluate  # noqa: E402
from .. import viz as _viz  # noqa: E402
