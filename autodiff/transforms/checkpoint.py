"""Checkpointing: a function of nodes becomes one node that stores no intermediates.

``cell = ad.checkpoint(fn)``; ``y = cell(h, x)`` builds a single `Checkpoint` node. Its
value is computed by running `fn`'s graph on private placeholder Variables with a compiled
schedule that frees every intermediate after its last use. Its derivative rule calls `fn`
again on the node's real inputs and differentiates that fresh graph: the intermediates are
recomputed during the backward pass instead of being kept from the forward one. Because the
rule is built from ordinary nodes, higher orders work as everywhere else.

`fn` must be a pure function of its node arguments (it may read Variables it closes over,
such as parameters: those are inputs of the inner graph too, and get their gradients).
It returns one node, or a tuple or list of nodes: those are flattened into the one value
the node holds (`pack`) and sliced back apart (`unpack`), so a block of an RNN can return
its last hidden state and its loss.
"""
import functools

import numpy as np

from ..core.derivation import records_derivation
from ..core.node import Node, Variable, as_node
from ..core.traversal import topo_sort
from ..ops.functions import concatenate, reshape
from ..ops.logic import Cast
from ..runtime.evaluation import compiled_body
from .grad import backpropagate


class Checkpoint(Node):
    """One node standing for ``fn(*inputs)`` (see module docstring)."""

    op_label = "checkpoint"
    elementwise = False

    def __init__(self, fn, *inputs, name=None):
        inputs = [as_node(i) for i in inputs]
        placeholders = [Variable.__new__(Variable) for _ in inputs]
        for p, i in zip(placeholders, inputs):
            p._value = None
            p.shape, p.dtype, p.name, p.children, p.params = i.shape, i.dtype, i.name, (), {}
            p.scope, p.derivative_of = (), None
        inner = fn(*placeholders)
        if not isinstance(inner, Node):
            raise TypeError(f"checkpoint: {getattr(fn, '__name__', fn)} must return one node, "
                            f"got {type(inner).__name__}")
        # Variables the function closes over (parameters) are inputs of this node too.
        captured = [n for n in topo_sort(inner)
                    if isinstance(n, Variable) and all(n is not p for p in placeholders)]
        self._inner = inner
        self._placeholders = placeholders
        # the captured Variables are inputs too: cells of one structure share one plan
        self._function = compiled_body(inner, placeholders + captured)
        super().__init__(*inputs, *captured, name=name or getattr(fn, "__name__", None),
                         fn=fn, n_inputs=len(inputs))

    def infer_shape(self, *shapes):
        return self._inner.shape

    def infer_dtype(self, *dtypes):
        return self._inner.dtype

    def key(self):
        return (Checkpoint, id(self))  # opaque: never merged with another call

    def with_children(self, children):
        """The function traced again on the new inputs (their shapes may differ)."""
        return Checkpoint(self.fn, *children[:self.n_inputs], name=self.name)

    def forward(self, *values):
        return self._function(*values)

    def lower_dask(self, lowering, *values):
        captured = list(self.children[self.n_inputs:])
        return lowering.graph([self._inner], self._placeholders + captured)(*values)[0]

    def lower_jax(self, lowering, *values):
        """The inner graph, rematerialised in the backward pass (jax.checkpoint)."""
        captured = list(self.children[self.n_inputs:])
        run = lowering.graph([self._inner], self._placeholders + captured)
        return lowering.jax.checkpoint(lambda *v: run(*v)[0])(*values)

    def vjp(self, g):
        inputs = self.children[:self.n_inputs]
        rebuilt = self.fn(*inputs)  # recomputation: a fresh graph on the real inputs
        # A node may be a child twice (passed twice, or passed and also captured); its
        # total cotangent goes to its first occurrence only.
        unique = list({id(c): c for c in self.children}.values())
        partials = backpropagate(rebuilt, g, unique, stop_at_wrt=True)
        return [_with_dtype(partials.pop(c, None), c.dtype) for c in self.children]


def _with_dtype(cotangent, dtype):
    """`cotangent` in `dtype`: outputs of several dtypes are packed into their common one,
    and an input's gradient keeps the input's own dtype, as without the checkpoint."""
    if cotangent is None or cotangent.dtype == dtype or not np.issubdtype(dtype, np.inexact):
        return cotangent
    return Cast(cotangent, dtype)


def checkpoint(fn):
    """Decorator: calls of `fn` on nodes become single `Checkpoint` nodes.

    ``cell = ad.checkpoint(cell_fn); h = cell(h, x)``. When `fn` returns a tuple or list
    of nodes, the call returns a tuple of nodes (slices of the one checkpoint node, with
    their own shapes and dtypes).
    """
    @functools.wraps(fn)
    @records_derivation(all_results=True)  # inputs of new shapes rebuild the whole call
    def wrapper(*inputs, name=None):
        layout = []  # this call's outputs as (shape, dtype), recorded by its first build

        def packed(*nodes):
            out = fn(*nodes)
            if isinstance(out, Node):
                return out
            if not isinstance(out, (tuple, list)) or not out or \
                    not all(isinstance(o, Node) for o in out):
                raise TypeError(f"checkpoint: {getattr(fn, '__name__', fn)} must return a "
                                f"node or a tuple of nodes, got {out!r}")
            if not layout:
                layout.append(describe_outputs(out))
            return pack(out)

        packed.__name__ = getattr(fn, "__name__", "checkpoint")
        node = Checkpoint(packed, *inputs, name=name or packed.__name__)
        return unpack(node, layout[0]) if layout else node
    return wrapper


def describe_outputs(nodes):
    """The (shape, dtype) of each node, as `unpack` needs them."""
    return [(n.shape, n.dtype) for n in nodes]


def pack(nodes):
    """One 1-D node holding `nodes` flattened one after another (see `unpack`); numpy's
    concatenation gives it their common dtype."""
    return concatenate([reshape(o, (-1,)) for o in nodes])


def unpack(flat, layout):
    """The nodes `pack` flattened into `flat`, as a tuple of nodes with the shapes and
    dtypes in `layout` (from `describe_outputs`)."""
    pieces, start = [], 0
    for shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64))
        piece = reshape(flat[start:start + size], shape)
        pieces.append(piece if piece.dtype == dtype else Cast(piece, dtype))
        start += size
    return tuple(pieces)
