"""Ops that move values around without arithmetic: reshape, broadcast, sum-to-shape,
indexing and its adjoint (scatter-add), concatenation and padding.

These are linear, and adjoint pairs share their rules: broadcast and sum-to-shape are each
other's adjoints, reshape undoes reshape, a slice's adjoint scatters into zeros and the
scatter's adjoint slices. (Transpose and MatMul are einsums: see einsum.py.)
"""
import numpy as np

from ..core.dtypes import sum_dtype
from ..core.node import Node, Constant, as_node, as_nodes
from ..core.shapes import (describe_operands, normalize_axes, normalize_axis, shape_argument,
                           size_of)

__all__ = ["Reshape", "ExpandDims", "Squeeze", "BroadcastTo", "ReduceSumToShape",
           "ReduceSumKeepDims", "Slice", "ScatterAdd", "Concat", "Pad"]


class ShapeOp(Node):
    """Base of the ops here: not elementwise, finite, and the dtype of their operand."""

    elementwise = False
    finite = True

    def infer_dtype(self, dtype, *rest):
        return dtype


class Reshape(ShapeOp):
    """``Reshape(node, shape)``: same values, new shape (one entry may be -1)."""

    op_label = "reshape"
    linear = True
    returns_view = True  # numpy reshapes contiguous values without copying

    def __init__(self, node, shape, *, name=None):
        super().__init__(node, name=name,
                         new_shape=shape_argument("Reshape", shape, allow_minus_one=True))

    def infer_shape(self, shape):
        size, target = size_of(shape), list(self.new_shape)
        if -1 in target:
            known = size_of([d for d in target if d != -1])
            if known == 0 or size % known:
                raise ValueError(f"Reshape: cannot reshape {self.children[0].describe()} "
                                 f"({size} elements) to {self.new_shape}")
            target[target.index(-1)] = size // known
        if size_of(target) != size:
            raise ValueError(f"Reshape: cannot reshape {self.children[0].describe()} "
                             f"({size} elements) to {self.new_shape} "
                             f"({size_of(target)} elements)")
        return tuple(target)

    def forward(self, x):
        return x.reshape(self.shape)

    def lower_jax(self, lowering, x):
        return x.reshape(self.shape)

    def lower_dask(self, lowering, x):
        return x.reshape(self.shape)

    def vjp(self, g):
        return [Reshape(g, self.children[0].shape)]

    def batch(self, operands, batched, size):
        return Reshape(operands[0], (size,) + self.shape)


class ExpandDims(ShapeOp):
    """``ExpandDims(node, axis)``: a new axis of size 1 at `axis` (numpy.expand_dims). The
    position is kept, not the shape, so it applies to operands of any shape."""

    op_label = "expand_dims"
    linear = True
    returns_view = True

    def __init__(self, node, axis, *, name=None):
        node = as_node(node)
        super().__init__(node, name=name,
                         axis=normalize_axis("ExpandDims", node, axis, node.ndim + 1))

    def infer_shape(self, shape):
        return shape[:self.axis] + (1,) + shape[self.axis:]

    def forward(self, x):
        return x.reshape(self.shape)

    def lower_jax(self, lowering, x):
        return x.reshape(self.shape)

    def lower_dask(self, lowering, x):
        return x.reshape(self.shape)

    def vjp(self, g):
        return [Squeeze(g, self.axis)]

    def batch(self, operands, batched, size):
        return ExpandDims(operands[0], self.axis + 1)


class Squeeze(ShapeOp):
    """``Squeeze(node, axes)``: the size-1 axes `axes` removed (numpy.squeeze)."""

    op_label = "squeeze"
    linear = True
    returns_view = True

    def __init__(self, node, axes, *, name=None):
        node = as_node(node)
        axes = normalize_axes("Squeeze", node, axes)
        wide = [a for a in axes if node.shape[a] != 1]
        if wide:
            raise ValueError(f"Squeeze: axis {wide[0]} of {node.describe()} does not have "
                             f"size 1")
        super().__init__(node, name=name, axes=axes)

    def infer_shape(self, shape):
        return tuple(d for i, d in enumerate(shape) if i not in self.axes)

    def forward(self, x):
        return x.reshape(self.shape)

    def lower_jax(self, lowering, x):
        return x.reshape(self.shape)

    def lower_dask(self, lowering, x):
        return x.reshape(self.shape)

    def vjp(self, g):
        return [Reshape(g, self.children[0].shape)]

    def batch(self, operands, batched, size):
        return Squeeze(operands[0], tuple(a + 1 for a in self.axes))


class BroadcastTo(ShapeOp):
    """``BroadcastTo(node, shape)``: numpy broadcasting to a larger shape."""

    op_label = "broadcast"
    linear = True
    returns_view = True

    def __init__(self, node, shape, *, name=None):
        super().__init__(node, name=name, target=shape_argument("BroadcastTo", shape))

    def infer_shape(self, shape):
        try:
            result = np.broadcast_shapes(shape, self.target)
        except ValueError:
            result = None
        if result != self.target:
            raise ValueError(f"BroadcastTo: cannot broadcast {self.children[0].describe()} "
                             f"to shape {self.target}")
        return self.target

    def forward(self, x):
        return np.broadcast_to(x, self.target)

    def lower_jax(self, lowering, x):
        return lowering.jnp.broadcast_to(x, self.target)

    def lower_dask(self, lowering, x):
        x = lowering.da.asarray(x)
        new = self.ndim - x.ndim  # axes broadcasting adds in front, then size-1 axes grown
        chunks = lowering.chunks_for(self.target)
        chunks = chunks[:new] + tuple(
            own if size == target else wanted
            for own, size, target, wanted in zip(x.chunks, x.shape, self.target[new:],
                                                 chunks[new:]))
        return lowering.da.broadcast_to(x, self.target, chunks=chunks)

    def vjp(self, g):
        return [ReduceSumToShape(g, self.children[0].shape)]

    def batch(self, operands, batched, size):
        return BroadcastTo(align_batched(operands[0], self.ndim), (size,) + self.shape)


class ReduceSumToShape(ShapeOp):
    """``ReduceSumToShape(node, shape)``: sum over the axes that broadcasting to
    `node.shape` from `shape` would have created (the adjoint of broadcasting). The sum
    keeps the operand's dtype."""

    op_label = "sum_to"
    linear = True

    def __init__(self, node, shape, *, name=None):
        super().__init__(node, name=name, target=shape_argument("ReduceSumToShape", shape))

    def infer_shape(self, shape):
        lead = len(shape) - len(self.target)
        if lead < 0 or any(t not in (1, s) for s, t in zip(shape[lead:], self.target)):
            raise ValueError(f"ReduceSumToShape: cannot sum {self.children[0].describe()} "
                             f"to shape {self.target}: {self.target} does not broadcast to it")
        return self.target

    def summed_axes(self):
        """(axes summed keeping them, leading axes summed away)."""
        shape = self.children[0].shape
        lead = len(shape) - len(self.target)
        kept = tuple(lead + i for i, (s, t) in enumerate(zip(shape[lead:], self.target))
                     if t == 1 and s != 1)
        return kept, tuple(range(lead))

    def kernel(self):
        kept, lead_axes = self.summed_axes()

        def sum_to_shape(x):
            if kept:
                x = x.sum(axis=kept, keepdims=True, dtype=x.dtype)
            if lead_axes:
                x = x.sum(axis=lead_axes, dtype=x.dtype)
            return x
        return sum_to_shape

    def forward(self, x):
        return self.kernel()(x)

    def lower_jax(self, lowering, x):
        kept, lead_axes = self.summed_axes()
        return lowering.sum(x, lead_axes + kept, dtype=x.dtype).reshape(self.target)

    def lower_dask(self, lowering, x):
        kept, lead_axes = self.summed_axes()
        if kept:
            x = lowering.reduce("sum", x, kept, keepdims=True, dtype=self.dtype)
        if lead_axes:
            x = lowering.reduce("sum", x, lead_axes, dtype=self.dtype)
        return x

    def vjp(self, g):
        return [BroadcastTo(g, self.children[0].shape)]

    def batch(self, operands, batched, size):
        x = operands[0]
        lead = x.ndim - 1 - self.ndim
        summed = ReduceSumToShape(x, (size,) + (1,) * lead + self.shape)
        return Reshape(summed, (size,) + self.shape)


class ReduceSumKeepDims(ShapeOp):
    """``ReduceSumKeepDims(node, axes)``: sum over `axes`, keeping them with size 1
    (numpy's sum dtype: booleans and small integers sum in the default integer)."""

    op_label = "sum"
    linear = True

    def __init__(self, node, axes, *, name=None):
        node = as_node(node)
        super().__init__(node, name=name,
                         axes=normalize_axes("ReduceSumKeepDims", node, axes))

    def infer_shape(self, shape):
        return tuple(1 if i in self.axes else d for i, d in enumerate(shape))

    def infer_dtype(self, dtype):
        return sum_dtype(dtype)

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=True)

    def lower_jax(self, lowering, x):
        return lowering.sum(x, self.axes, dtype=self.dtype, keepdims=True)

    def lower_dask(self, lowering, x):
        return lowering.reduce("sum", x, self.axes, keepdims=True, dtype=self.dtype)

    def vjp(self, g):
        return [BroadcastTo(g, self.children[0].shape)]

    def batch(self, operands, batched, size):
        return ReduceSumKeepDims(operands[0], tuple(a + 1 for a in self.axes))


def align_batched(node, ndim):
    """A batched value (B, *shape) reshaped to (B, 1.., *shape) so that it broadcasts
    against a batched `ndim`-dimensional value."""
    inner = node.shape[1:]
    if len(inner) == ndim:
        return node
    return Reshape(node, node.shape[:1] + (1,) * (ndim - len(inner)) + inner)


# --- indexing ----------------------------------------------------------------------------

def _items(item):
    return item if isinstance(item, tuple) else (item,)


def _is_basic_index(item):
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
               for i in _items(item))


def _index_shape(op_name, operand, shape, item):
    probe = np.lib.stride_tricks.as_strided(np.zeros(1), shape, [0] * len(shape))
    try:
        return probe[item].shape
    except (IndexError, TypeError, ValueError) as err:
        raise type(err)(f"{op_name}: invalid index {item!r} for {operand.describe()}: "
                        f"{err}") from None


def _normalize_item(item):
    """Lists in an index become integer arrays (numpy's meaning), kept immutable."""
    out = []
    for i in _items(item):
        if isinstance(i, Node):
            raise TypeError("indexing with a node is not supported; index with integers, "
                            "slices or integer arrays")
        if isinstance(i, (list, np.ndarray)):
            i = np.array(i)
            i.setflags(write=False)
        out.append(i)
    return tuple(out) if isinstance(item, tuple) else out[0]


def _batched_item(item):
    """`item` applied behind a new leading axis, or None when numpy would move the
    integer-array axes to the front (they are not adjacent)."""
    items = _items(item)
    arrays = [k for k, i in enumerate(items) if isinstance(i, np.ndarray)]
    if arrays and arrays[-1] - arrays[0] + 1 != len(arrays):
        return None
    return (slice(None),) + items


class Slice(ShapeOp):
    """``Slice(node, item)``: ``node[item]`` with numpy basic or integer-array indexing."""

    op_label = "[]"
    linear = True

    def __init__(self, node, item, *, name=None):
        super().__init__(node, name=name, item=_normalize_item(item))

    def infer_shape(self, shape):
        return _index_shape("Slice", self.children[0], shape, self.item)

    @property
    def returns_view(self):
        """Basic indexing (integers and slices) gives a view; integer arrays copy."""
        return not any(isinstance(i, np.ndarray) for i in _items(self.item))

    def forward(self, x):
        return x[self.item]

    def lower_jax(self, lowering, x):
        return x[self.item]

    def lower_dask(self, lowering, x):
        item = self.item if isinstance(self.item, tuple) else (self.item,)
        if isinstance(x, lowering.da.Array) and len(item) and all(
                isinstance(i, np.ndarray) for i in item) and \
                (len(item) > 1 or item[0].ndim > 1):
            # integer arrays only: numpy's indexing is dask's pointwise vindex (dask's
            # x[...] takes one 1-d integer array at most)
            return x.vindex[item]
        return x[self.item]

    def vjp(self, g):
        return [ScatterAdd(g, self.item, self.children[0].shape)]

    def batch(self, operands, batched, size):
        item = _batched_item(self.item)
        return None if item is None else Slice(operands[0], item)


class ScatterAdd(ShapeOp):
    """``ScatterAdd(values, item, shape)``: zeros of `shape` with `values` added at `item`
    (repeated indices accumulate). The adjoint of `Slice`."""

    op_label = "scatter"
    linear = True

    def __init__(self, values, item, shape, *, name=None):
        super().__init__(values, name=name, item=_normalize_item(item),
                         target=shape_argument("ScatterAdd", shape))

    def infer_shape(self, shape):
        expected = _index_shape("ScatterAdd", self.children[0], self.target, self.item)
        try:
            fits = np.broadcast_shapes(shape, expected) == expected
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"ScatterAdd: values {self.children[0].describe()} do not fit "
                             f"index {self.item!r} of shape {self.target}")
        return self.target

    def forward(self, values):
        out = np.zeros(self.target, dtype=self.dtype)
        if _is_basic_index(self.item):
            out[self.item] = values
        else:
            np.add.at(out, self.item, values)
        return out

    def lower_dask(self, lowering, values):
        da = lowering.da
        if _is_basic_index(self.item):  # zeros with the values set: no collisions
            out = da.zeros(self.target, dtype=self.dtype,
                           chunks=lowering.chunks_for(self.target))
            out[self.item] = values
            return out
        if isinstance(values, da.Array) and any(len(c) > 1 for c in values.chunks):
            raise NotImplementedError(
                f"ScatterAdd with integer-array indices cannot run on chunked operands "
                f"(dask has no add.at): {self.children[0].describe()}")
        return da.from_array(self.forward(np.asarray(values)))

    def lower_jax(self, lowering, values):
        zeros = lowering.jnp.zeros(self.target, dtype=self.dtype)
        if _is_basic_index(self.item):
            return zeros.at[self.item].set(values)
        return zeros.at[self.item].add(values)

    def vjp(self, g):
        return [Slice(g, self.item)]

    def batch(self, operands, batched, size):
        item = _batched_item(self.item)
        return None if item is None else ScatterAdd(operands[0], item, (size,) + self.target)


# --- joining and padding ------------------------------------------------------------------

class Concat(ShapeOp):
    """``Concat(a, b, ..., axis=0)``: numpy.concatenate of the operands."""

    op_label = "concat"

    def __init__(self, *operands, axis=0, name=None):
        if not operands:
            raise TypeError("Concat takes at least one operand, got none")
        operands = as_nodes(*operands)
        ranks = {o.ndim for o in operands}
        if len(ranks) != 1 or 0 in ranks:
            raise ValueError(f"Concat: operands {describe_operands(operands)} must have the "
                             f"same number (>= 1) of dimensions")
        axis = normalize_axis("Concat", operands[0], axis)
        super().__init__(*operands, name=name, axis=axis)

    def infer_shape(self, *shapes):
        for s in shapes[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != self.axis):
                raise ValueError(f"Concat: operands {describe_operands(self.children)} "
                                 f"differ outside axis {self.axis}")
        out = list(shapes[0])
        out[self.axis] = sum(s[self.axis] for s in shapes)
        return out

    def infer_dtype(self, *dtypes):
        return np.result_type(*dtypes)

    def forward(self, *values):
        return np.concatenate(values, axis=self.axis)

    def lower_jax(self, lowering, *values):
        return lowering.jnp.concatenate(values, axis=self.axis)

    def lower_dask(self, lowering, *values):
        return lowering.da.concatenate([lowering.da.asarray(v) for v in values],
                                       axis=self.axis)

    def vjp(self, g):
        grads, start = [], 0
        for child in self.children:
            stop = start + child.shape[self.axis]
            index = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(Slice(g, index))
            start = stop
        return grads

    def jvp(self, tangents):
        parts = [t if t is not None else Constant(np.zeros(c.shape, dtype=self.dtype))
                 for c, t in zip(self.children, tangents)]
        return Concat(*parts, axis=self.axis)

    def batch(self, operands, batched, size):
        parts = [o if b else BroadcastTo(o, (size,) + o.shape)
                 for o, b in zip(operands, batched)]
        return Concat(*parts, axis=self.axis + 1)


class Pad(ShapeOp):
    """``Pad(node, pad_width, constant_values=0)``: numpy.pad in constant mode.

    `pad_width` and `constant_values` take numpy's forms: one number for every side, a
    ``(before, after)`` pair for every axis, or one pair per axis.
    """

    op_label = "pad"

    def __init__(self, node, pad_width, constant_values=0, *, name=None):
        node = as_node(node)
        super().__init__(node, name=name,
                         pad_width=_per_axis_pairs(node, "pad_width", pad_width, int),
                         constant_values=_per_axis_pairs(node, "constant_values",
                                                         constant_values, float))

    def infer_shape(self, shape):
        return tuple(d + lo + hi for d, (lo, hi) in zip(shape, self.pad_width))

    def forward(self, x):
        if not self.pad_width:  # a 0-d value has nothing to pad (numpy rejects width ())
            return x
        return np.pad(x, self.pad_width, constant_values=self.constant_values)

    def lower_jax(self, lowering, x):
        if not self.pad_width:
            return x
        return lowering.jnp.pad(x, self.pad_width, constant_values=self.constant_values)

    def lower_dask(self, lowering, x):
        if not self.pad_width:
            return x
        if 0 in x.shape:  # dask cannot pad an empty array; the result is the padding alone
            return lowering.da.asarray(self.forward(np.zeros(x.shape, x.dtype)))
        return lowering.da.pad(lowering.da.asarray(x), self.pad_width, mode="constant",
                               constant_values=self.constant_values)

    def vjp(self, g):
        index = tuple(slice(lo, lo + d) for d, (lo, _) in zip(self.children[0].shape,
                                                              self.pad_width))
        return [Slice(g, index)]

    def jvp(self, tangents):
        zeros = ((0.0, 0.0),) * self.ndim
        return Pad(tangents[0], self.pad_width, zeros)

    def batch(self, operands, batched, size):
        return Pad(operands[0], ((0, 0),) + self.pad_width,
                   ((0.0, 0.0),) + self.constant_values)


def _per_axis_pairs(node, what, value, kind):
    """numpy.pad's forms of `value` as one (before, after) pair per axis of `node`."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError
        pairs = np.broadcast_to(array, (node.ndim, 2))
    except (TypeError, ValueError):
        raise ValueError(f"Pad: {what} {value!r} for {node.describe()}: expected a number, a "
                         f"(before, after) pair, or one pair for each of its {node.ndim} "
                         f"axes") from None
    if kind is int:
        if array.dtype.kind == "f" and not np.all(array == np.round(array)) \
                or np.any(array < 0):
            raise ValueError(f"Pad: {what} {value!r} for {node.describe()}: widths must be "
                             f"non-negative integers")
        return tuple((int(lo), int(hi)) for lo, hi in pairs.tolist())
    return tuple((float(lo), float(hi)) for lo, hi in pairs.tolist())
