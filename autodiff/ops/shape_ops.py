"""Ops that move values around without arithmetic: reshape, broadcast, sum-to-shape,
indexing and its adjoint (scatter-add), concatenation, padding, transpose and matmul.

These are linear, and adjoint pairs share their rules: broadcast and sum-to-shape are each
other's adjoints, reshape undoes reshape, a slice's adjoint scatters into zeros and the
scatter's adjoint slices. Transpose and MatMul are einsums.
"""
import numpy as np

from ..core.node import Node, as_node, as_nodes
from .einsum import Einsum, LETTERS


def normalize_axis(op, axis, ndim):
    """A non-negative axis index, or ValueError naming the op and its operand."""
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < max(ndim, 1):
        children = getattr(op, "children", ())  # an op may check axes before it is built
        operand = children[0].describe() if children else ""
        raise ValueError(f"{getattr(op, 'op_name', type(op).__name__)}: axis {axis!r} is out of range for operand "
                         f"{operand} with {ndim} dimension(s)")
    return int(axis) % max(ndim, 1)


def normalize_axes(op, axes, ndim):
    """Sorted tuple of distinct non-negative axes (None means all)."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    result = tuple(sorted(normalize_axis(op, a, ndim) for a in axes))
    if len(set(result)) != len(result):
        raise ValueError(f"{getattr(op, 'op_name', type(op).__name__)}: repeated axis in {axes!r}")
    return result


class Reshape(Node):
    """``Reshape(node, shape)``: same values, new shape (one entry may be -1)."""

    op_label = "reshape"
    returns_view = True  # numpy reshapes contiguous values without copying

    def __init__(self, node, shape, name=None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        super().__init__(node, name=name, new_shape=shape)

    def infer_shape(self, shape):
        size = int(np.prod(shape, dtype=np.int64))
        target = list(self.new_shape)
        if target.count(-1) > 1 or any(d < -1 for d in target):
            raise ValueError(f"Reshape: invalid target shape {self.new_shape}")
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
            if known == 0 or size % known:
                raise ValueError(f"Reshape: cannot reshape {self.children[0].describe()} "
                                 f"({size} elements) to {self.new_shape}")
            target[target.index(-1)] = size // known
        if int(np.prod(target, dtype=np.int64)) != size:
            raise ValueError(f"Reshape: cannot reshape {self.children[0].describe()} "
                             f"({size} elements) to {self.new_shape} "
                             f"({int(np.prod(target))} elements)")
        self.new_shape = tuple(target)
        return self.new_shape

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        return x.reshape(self.new_shape)

    def vjp(self, g):
        return [Reshape(g, self.children[0].shape)]


class BroadcastTo(Node):
    """``BroadcastTo(node, shape)``: numpy broadcasting to a larger shape."""

    op_label = "broadcast"
    returns_view = True

    def __init__(self, node, shape, name=None):
        super().__init__(node, name=name, target=tuple(int(d) for d in shape))

    def infer_shape(self, shape):
        try:
            result = np.broadcast_shapes(shape, self.target)
        except ValueError:
            result = None
        if result != self.target:
            raise ValueError(f"BroadcastTo: cannot broadcast {self.children[0].describe()} "
                             f"to shape {self.target}")
        return self.target

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        return np.broadcast_to(x, self.target)

    def vjp(self, g):
        return [ReduceSumToShape(g, self.children[0].shape)]


class ReduceSumToShape(Node):
    """``ReduceSumToShape(node, shape)``: sum over the axes that broadcasting to
    `node.shape` from `shape` would have created (the adjoint of broadcasting)."""

    op_label = "sum_to"

    def __init__(self, node, shape, name=None):
        super().__init__(node, name=name, target=tuple(int(d) for d in shape))

    def infer_shape(self, shape):
        lead = len(shape) - len(self.target)
        if lead < 0 or any(t not in (1, s) for s, t in zip(shape[lead:], self.target)):
            raise ValueError(f"ReduceSumToShape: cannot sum {self.children[0].describe()} "
                             f"to shape {self.target}: {self.target} does not broadcast to it")
        self.lead = tuple(range(lead))
        self.kept = tuple(lead + i for i, (s, t) in enumerate(zip(shape[lead:], self.target))
                          if t == 1 and s != 1)
        return self.target

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        if self.kept:
            x = x.sum(axis=self.kept, keepdims=True)
        if self.lead:
            x = x.sum(axis=self.lead)
        return x

    def vjp(self, g):
        return [BroadcastTo(g, self.children[0].shape)]


class ReduceSumKeepDims(Node):
    """``ReduceSumKeepDims(node, axes)``: sum over `axes`, keeping them with size 1."""

    op_label = "sum"

    def __init__(self, node, axes, name=None):
        node = as_node(node)
        super().__init__(node, name=name, axes=normalize_axes(self, axes, node.ndim))

    def infer_shape(self, shape):
        return tuple(1 if i in self.axes else d for i, d in enumerate(shape))

    def infer_dtype(self, dtype):
        return sum_dtype(dtype)

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=True)

    def vjp(self, g):
        return [BroadcastTo(g, self.children[0].shape)]


def sum_dtype(dtype):
    """numpy's dtype for a sum: booleans and small integers accumulate in the default int."""
    return np.zeros(1, dtype).sum().dtype


def _is_basic_index(item):
    items = item if isinstance(item, tuple) else (item,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
               for i in items)


def _index_shape(op, shape, item):
    probe = np.lib.stride_tricks.as_strided(np.zeros(1), shape, [0] * len(shape))
    try:
        return probe[item].shape
    except (IndexError, TypeError, ValueError) as err:
        raise type(err)(f"{type(op).__name__}: invalid index {item!r} for "
                        f"{op.children[0].describe()}: {err}") from None


def _normalize_item(item):
    """Lists in an index become integer arrays (numpy's meaning), kept immutable."""
    items = item if isinstance(item, tuple) else (item,)
    out = []
    for i in items:
        if isinstance(i, Node):
            raise TypeError("indexing with a node is not supported; index with integers, "
                            "slices or integer arrays")
        if isinstance(i, (list, np.ndarray)):
            i = np.array(i)
            i.setflags(write=False)
        out.append(i)
    return tuple(out) if isinstance(item, tuple) else out[0]


class Slice(Node):
    """``Slice(node, item)``: ``node[item]`` with numpy basic or integer-array indexing."""

    op_label = "[]"

    def __init__(self, node, item, name=None):
        super().__init__(node, name=name, item=_normalize_item(item))

    def infer_shape(self, shape):
        return _index_shape(self, shape, self.item)

    def infer_dtype(self, dtype):
        return dtype

    @property
    def returns_view(self):
        """Basic indexing (integers and slices) gives a view; integer arrays copy."""
        items = self.item if isinstance(self.item, tuple) else (self.item,)
        return not any(isinstance(i, np.ndarray) for i in items)

    def forward(self, x):
        return x[self.item]

    def vjp(self, g):
        return [ScatterAdd(g, self.item, self.children[0].shape)]


class ScatterAdd(Node):
    """``ScatterAdd(values, item, shape)``: zeros of `shape` with `values` added at `item`
    (repeated indices accumulate). The adjoint of `Slice`."""

    op_label = "scatter"

    def __init__(self, values, item, shape, name=None):
        super().__init__(values, name=name, item=_normalize_item(item),
                         target=tuple(int(d) for d in shape))

    def infer_shape(self, shape):
        expected = _index_shape(self, self.target, self.item)
        if np.broadcast_shapes(shape, expected) != expected:
            raise ValueError(f"ScatterAdd: values {self.children[0].describe()} do not fit "
                             f"index {self.item!r} of shape {self.target}")
        self.basic = _is_basic_index(self.item)
        return self.target

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, values):
        out = np.zeros(self.target, dtype=self.dtype)
        if self.basic:
            out[self.item] = values
        else:
            np.add.at(out, self.item, values)
        return out

    def vjp(self, g):
        return [Slice(g, self.item)]


class Concat(Node):
    """``Concat(a, b, ..., axis=0)``: numpy.concatenate of the operands."""

    op_label = "concat"

    def __init__(self, *operands, axis=0, name=None):
        if not operands:
            raise ValueError("Concat needs at least one operand")
        super().__init__(*as_nodes(*operands), name=name, axis=axis)

    def infer_shape(self, *shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1 or 0 in ranks:
            raise ValueError("Concat: operands " + ", ".join(c.describe() for c in self.children)
                             + " must have the same number (>= 1) of dimensions")
        self.axis = normalize_axis(self, self.axis, len(shapes[0]))
        self.params["axis"] = self.axis
        for s in shapes[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != self.axis):
                raise ValueError("Concat: operands " + ", ".join(c.describe() for c in self.children)
                                 + f" differ outside axis {self.axis}")
        out = list(shapes[0])
        out[self.axis] = sum(s[self.axis] for s in shapes)
        return out

    def infer_dtype(self, *dtypes):
        return np.result_type(*dtypes)

    def forward(self, *values):
        return np.concatenate(values, axis=self.axis)

    def vjp(self, g):
        grads, start = [], 0
        for child in self.children:
            stop = start + child.shape[self.axis]
            index = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(Slice(g, index))
            start = stop
        return grads


class Pad(Node):
    """``Pad(node, pad_width, constant_values=0)``: numpy.pad in constant mode."""

    op_label = "pad"

    def __init__(self, node, pad_width, constant_values=0, name=None):
        node = as_node(node)
        width = np.broadcast_to(np.asarray(pad_width, dtype=int), (node.ndim, 2))
        if (width < 0).any():
            raise ValueError(f"Pad: negative pad width {pad_width!r} for {node.describe()}")
        super().__init__(node, name=name, pad_width=tuple(map(tuple, width.tolist())),
                         constant_values=float(constant_values))

    def infer_shape(self, shape):
        return tuple(d + lo + hi for d, (lo, hi) in zip(shape, self.pad_width))

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        if not self.pad_width:  # a 0-d value has nothing to pad (numpy rejects width ())
            return x
        return np.pad(x, self.pad_width, constant_values=self.constant_values)

    def vjp(self, g):
        index = tuple(slice(lo, lo + d) for d, (lo, _) in zip(self.children[0].shape, self.pad_width))
        return [Slice(g, index)]


class Transpose(Einsum):
    """``Transpose(node, axes=None)``: numpy.transpose, as a one-operand einsum."""

    op_label = "transpose"

    def __init__(self, node, axes=None, name=None):
        node = as_node(node)
        labels = LETTERS[:node.ndim]
        order = tuple(reversed(range(node.ndim))) if axes is None else tuple(axes)
        if sorted(a % max(node.ndim, 1) for a in order) != list(range(node.ndim)) \
                or len(order) != node.ndim:
            raise ValueError(f"Transpose: axes {axes!r} are not a permutation of the "
                             f"{node.ndim} axes of {node.describe()}")
        super().__init__(labels + "->" + "".join(labels[a] for a in order), node, name=name)


class MatMul(Einsum):
    """``MatMul(a, b)``: numpy.matmul (``a @ b``), as an einsum; batch axes broadcast."""

    op_label = "@"

    def __init__(self, a, b, name=None):
        a, b = as_nodes(a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"MatMul: operands {a.describe()} and {b.describe()} must have at "
                             f"least one dimension (use * for scalars)")
        # numpy.matmul: a 1-D operand is a vector; other operands are stacks of matrices
        subscripts = {(False, False): "...ij,...jk->...ik", (True, False): "j,...jk->...k",
                      (False, True): "...ij,j->...i", (True, True): "j,j->"}
        inner_a = a.shape[-1]
        inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if inner_a != inner_b:
            raise ValueError(f"MatMul: {a.describe()} @ {b.describe()}: inner dimensions "
                             f"{inner_a} and {inner_b} differ")
        super().__init__(subscripts[a.ndim == 1, b.ndim == 1], a, b, name=name)
