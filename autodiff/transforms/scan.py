"""`scan`: a loop over the leading axis of sequences, as one node of the graph.

``final, ys = ad.scan(fn, init, xs)`` computes ``carry = init``, then for each step t
``carry, y_t = fn(carry, x_t)`` (x_t: the t-th slice of every sequence in `xs`), and
returns the last carry and the stacked ``y_t``. `fn` is traced once on placeholders into a
small inner graph (the loop body), so a recurrent network of any length is a graph of
constant size: cheap to build, to differentiate and to plan, and lowered to a real loop by
the backends (``jax.lax.scan`` on the jax backend).

The body may read nodes from outside the loop (parameters, values computed before it):
those are inputs of the scan node too (its loop invariants), computed once, and they get
gradients. Its gradient is a scan too, running backwards over the steps with the body's
vector-Jacobian product, so derivatives of any order work. The scan node keeps the carry
entering each step (the states the backward pass needs), as a backward pass by hand does.

Carries, slices and per-step outputs are a node, or a tuple or list of nodes; the scan
returns them in the same form. Every value of the scan node is packed into one flat array
(the node's value) and sliced back apart.
"""
from collections import namedtuple

import numpy as np

from ..core.context import scope
from ..core.derivation import records_derivation
from ..core.dtypes import promote
from ..core.node import Node, Variable, as_node
from ..core.shapes import size_of
from ..core.traversal import topo_sort
from ..ops.functions import reshape, zeros_like
from ..ops.logic import Cast
from ..ops.shape_ops import Slice
from ..runtime.evaluation import compiled_body
from ..runtime.function import read_only
from .grad import backpropagate


@records_derivation(all_results=True)  # inputs of new shapes (longer sequences) trace again
def scan(fn, init, xs=None, length=None, reverse=False):
    """Loop `fn` over the leading axis of `xs` (see the module docstring).

    `fn(carry, x) -> (carry, y)`; `init` gives the first carry; `xs` the sequences (or
    None, with `length` steps); `reverse=True` runs from the last step to the first (the
    outputs stay in the order of `xs`). Returns ``(final_carry, ys)``.
    """
    carry_nodes, carry_form = _flatten(init, "init")
    x_nodes, x_form = _flatten(xs, "xs") if xs is not None else ([], None)
    steps = _length(x_nodes, length)
    body, invariants = trace_body(fn, carry_nodes, carry_form, x_nodes, x_form)
    node = Scan(body, carry_nodes, x_nodes, invariants, steps, bool(reverse))
    final = node.unpacked[:body.n_carry]
    ys = node.unpacked[body.n_carry:body.n_carry + body.n_ys]
    return _unflatten(final, carry_form), _unflatten(ys, body.y_form)


#: A traced loop body: `outputs` (new carries, then per-step outputs) as a graph of
#: `places` (placeholders of the carries, the slices and the loop invariants), the counts
#: of each, how to give the outputs back (`y_form`), and the body compiled for numpy.
Body = namedtuple("Body", "outputs places n_carry n_x n_ys y_form name function")


def trace_body(fn, carry_nodes, carry_form, x_nodes, x_form):
    """`fn` traced on placeholders: (Body, the outside nodes it reads)."""
    carry_places = [_placeholder(c.shape, c.dtype, f"carry{k}")
                    for k, c in enumerate(carry_nodes)]
    x_places = [_placeholder(x.shape[1:], x.dtype, f"x{k}") for k, x in enumerate(x_nodes)]
    with scope("scan body"):
        out = fn(_unflatten(carry_places, carry_form), _unflatten(x_places, x_form))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"scan: {_name(fn)} must return (carry, y), got {out!r}")
    new_carry_nodes, _ = _flatten(out[0], "the carry it returns")
    if [(n.shape, n.dtype) for n in new_carry_nodes] != \
            [(c.shape, c.dtype) for c in carry_nodes]:
        raise ValueError(
            f"scan: {_name(fn)} returns a carry of shapes and dtypes "
            f"{[(n.shape, str(n.dtype)) for n in new_carry_nodes]}, but init has "
            f"{[(c.shape, str(c.dtype)) for c in carry_nodes]}")
    y_nodes, y_form = _flatten(out[1], "y") if out[1] is not None else ([], None)
    outputs = new_carry_nodes + y_nodes
    places = carry_places + x_places
    invariants = _invariants(outputs, places)
    inv_places = [_placeholder(n.shape, n.dtype, f"invariant{k}")
                  for k, n in enumerate(invariants)]
    # the body as a graph of its placeholders alone: outside nodes become placeholders
    outputs = _replace(outputs, invariants, inv_places)
    places = places + inv_places
    body = Body(outputs, places, len(carry_nodes), len(x_nodes), len(y_nodes), y_form,
                _name(fn), compiled_body(outputs, places))
    return body, invariants


class Scan(Node):
    """The node of one `scan` call (see the module docstring). Its value is packed: the
    final carries, the stacked per-step outputs, then the carries entering each step.
    ``Scan(body, carries, sequences, invariants, length, reverse)``, `body` from
    `trace_body`."""

    op_label = "scan"
    elementwise = False

    def __init__(self, body, carry_nodes, x_nodes, invariants, length, reverse, *, name=None):
        self.layout = ([(c.shape, c.dtype) for c in carry_nodes]
                       + [((length,) + y.shape, y.dtype)
                          for y in body.outputs[body.n_carry:]]
                       + [((length,) + c.shape, c.dtype) for c in carry_nodes])
        # the parameters: the same body on the same operands is the same loop
        super().__init__(*carry_nodes, *x_nodes, *invariants, name=name or body.name,
                         body=body, length=length, reverse=reverse)
        self.n_carry, self.n_x, self.n_ys = body.n_carry, body.n_x, body.n_ys
        self.unpacked = _unpack(self, self.layout)

    def infer_shape(self, *shapes):
        return (sum(size_of(shape) for shape, _ in self.layout),)

    def infer_dtype(self, *dtypes):
        return promote(*[dtype for _, dtype in self.layout]) if self.layout else np.float64

    # --- the loop ----------------------------------------------------------------------
    def forward(self, *values):
        # the body runs once a step on values checked here once (read-only views of what
        # the loop reads; carries it computes itself)
        values = [read_only(np.asarray(v)) for v in values]
        carry = list(values[:self.n_carry])
        xs = values[self.n_carry:self.n_carry + self.n_x]
        invariants = values[self.n_carry + self.n_x:]
        run = self.body.function._run
        ys = [np.empty(shape, dtype)
              for shape, dtype in self.layout[self.n_carry:self.n_carry + self.n_ys]]
        states = [np.empty((self.length,) + np.shape(c), np.asarray(c).dtype) for c in carry]
        steps = range(self.length - 1, -1, -1) if self.reverse else range(self.length)
        for t in steps:
            for state, c in zip(states, carry):
                state[t] = c
            out = run([*carry, *[x[t] for x in xs], *invariants], prepared=True)
            carry = out[:self.n_carry]
            for y, value in zip(ys, out[self.n_carry:]):
                y[t] = value
        parts = carry + ys + states
        return np.concatenate([np.ravel(p).astype(self.dtype, copy=False) for p in parts]) \
            if parts else np.zeros(0, self.dtype)

    def lower_dask(self, lowering, *values):
        """The loop unrolled into the task graph, step by step."""
        da = lowering.da
        run = lowering.graph(self.body.outputs, self.body.places)
        carry = list(values[:self.n_carry])
        xs = values[self.n_carry:self.n_carry + self.n_x]
        invariants = values[self.n_carry + self.n_x:]
        ys, states = [[None] * self.length for _ in range(self.n_ys)], \
            [[None] * self.length for _ in range(self.n_carry)]
        for t in (range(self.length - 1, -1, -1) if self.reverse else range(self.length)):
            for k, c in enumerate(carry):
                states[k][t] = c
            out = run(*carry, *[x[t] for x in xs], *invariants)
            carry = out[:self.n_carry]
            for k, y in enumerate(out[self.n_carry:]):
                ys[k][t] = y
        parts = list(carry) + [da.stack(y) for y in ys] + [da.stack(s) for s in states]
        return da.concatenate([da.asarray(p).ravel().astype(self.dtype) for p in parts]) \
            if parts else da.zeros(0, self.dtype)

    def lower_jax(self, lowering, *values):
        jnp, lax = lowering.jnp, lowering.lax
        run = lowering.graph(self.body.outputs, self.body.places)
        carry = tuple(values[:self.n_carry])
        xs = tuple(values[self.n_carry:self.n_carry + self.n_x])
        invariants = values[self.n_carry + self.n_x:]

        def step(c, x):
            out = run(*c, *x, *invariants)
            return tuple(out[:self.n_carry]), (tuple(out[self.n_carry:]), c)

        final, (ys, states) = lax.scan(step, carry, xs, length=self.length,
                                       reverse=self.reverse)
        parts = list(final) + list(ys) + list(states)
        return jnp.concatenate([jnp.ravel(p).astype(self.dtype) for p in parts]) \
            if parts else jnp.zeros(0, self.dtype)

    # --- its derivative: a scan backwards ------------------------------------------------
    def vjp(self, g):
        n_carry, n_x, n_ys = self.n_carry, self.n_x, self.n_ys
        carries = self.children[:n_carry]
        xs = self.children[n_carry:n_carry + n_x]
        invariants = self.children[n_carry + n_x:]
        g_parts = _unpack(g, self.layout)
        g_final, g_ys = g_parts[:n_carry], g_parts[n_carry:n_carry + n_ys]
        g_states = g_parts[n_carry + n_ys:]  # the states are outputs too (second order)
        states = self.unpacked[n_carry + n_ys:]
        body, places = self.body.outputs, self.body.places
        k_c, k_x = n_carry, n_x

        def backward_step(bcarry, bx):
            g_carry, accumulated = bcarry[:n_carry], bcarry[n_carry:]
            state, x = bx[:n_carry], bx[n_carry:n_carry + n_x]
            g_y = bx[n_carry + n_x:n_carry + n_x + n_ys]
            g_state_out = bx[n_carry + n_x + n_ys:]
            # the body on this step's state and slice, with the loop invariants outside
            on_step = _replace(body, places, list(state) + list(x) + list(invariants))
            seeds = list(g_carry) + list(g_y)
            cotangents = _vjp_of(on_step, seeds, list(state) + list(x) + list(invariants))
            # the carry entering this step: through the body, and as a state output
            g_state = [a + b for a, b in zip(cotangents[:k_c], g_state_out)]
            g_x = cotangents[k_c:k_c + k_x]
            g_inv = cotangents[k_c + k_x:]
            new_accumulated = [a + b for a, b in zip(accumulated, g_inv)]
            return tuple(g_state) + tuple(new_accumulated), tuple(g_x)

        zero_acc = [zeros_like(v) for v in invariants]
        init = tuple(_fit(gc, c) for gc, c in zip(g_final, carries)) + tuple(zero_acc)
        seq = (tuple(states) + tuple(xs)
               + tuple(_fit(gy, y) for gy, y in zip(g_ys, self.unpacked[n_carry:n_carry + n_ys]))
               + tuple(_fit(gs, s) for gs, s in zip(g_states, states)))
        final, g_xs = scan(backward_step, init, seq, length=self.length,
                           reverse=not self.reverse)
        final = list(final) if isinstance(final, (tuple, list)) else [final]
        g_xs = list(g_xs) if isinstance(g_xs, (tuple, list)) else [g_xs]
        return final[:n_carry] + g_xs + final[n_carry:]

    def batch(self, operands, batched, size):
        """Declined: a stack of loops runs as one loop per row (the batching transform's
        loop), which jacobian and hessian of a scan need only for small sizes."""
        return None

    def with_children(self, children):
        """The same loop body on other operands of the same per-step shapes (any length);
        for other shapes, `scan` traces its function again (runtime/reinfer.py)."""
        carry = list(children[:self.n_carry])
        xs = list(children[self.n_carry:self.n_carry + self.n_x])
        per_step = [(n.shape, n.dtype) for n in carry] + [(x.shape[1:], x.dtype) for x in xs]
        for node, (shape, dtype), place in zip(carry + xs, per_step, self.body.places):
            if shape != place.shape or dtype != place.dtype:
                raise ValueError(f"scan {self.name}: operand {node.describe()} does not "
                                 f"fit the traced loop body; call ad.scan again")
        length = xs[0].shape[0] if xs else self.length
        return Scan(self.body, carry, xs, list(children[self.n_carry + self.n_x:]), length,
                    self.reverse, name=self.name)


# --- helpers ------------------------------------------------------------------------------

def _vjp_of(outputs, seeds, wrt):
    """Cotangents of `wrt` (nodes, treated as leaves) for `outputs` seeded with `seeds`."""
    partials = backpropagate(outputs, seeds, wrt, stop_at_wrt=True)
    return [partials.get(w, zeros_like(w)) for w in wrt]


def _fit(g, like):
    """A cotangent slice with the dtype of what it differentiates."""
    return g if g.dtype == like.dtype else Cast(g, like.dtype)


def _placeholder(shape, dtype, name):
    return Variable.placeholder(shape, dtype, name)


def _invariants(outputs, places):
    """The nodes from outside the loop the body reads: nodes not depending on the
    placeholders that a node depending on them uses (parameters, constants are leaves)."""
    depends = set(map(id, places))
    found, seen = [], set()
    for node in topo_sort(outputs):
        if any(id(c) in depends for c in node.children) or id(node) in depends:
            depends.add(id(node))
            for c in node.children:
                if id(c) not in depends and id(c) not in seen and not _is_constant(c):
                    seen.add(id(c))
                    found.append(c)
    for out in outputs:  # a body output that ignores the loop entirely
        if id(out) not in depends and id(out) not in seen and not _is_constant(out):
            seen.add(id(out))
            found.append(out)
    return found


def _is_constant(node):
    return not node.children and not isinstance(node, Variable)


def _replace(outputs, old, new):
    """`outputs` rebuilt with the nodes `old` replaced by `new` (same shapes)."""
    mapped = {id(o): n for o, n in zip(old, new)}
    for node in topo_sort(outputs, leaves=old):
        if id(node) in mapped or not node.children:
            continue
        children = [mapped.get(id(c), c) for c in node.children]
        if any(a is not b for a, b in zip(children, node.children)):
            mapped[id(node)] = node.with_children(children)
    return [mapped.get(id(o), o) for o in outputs]


def _unpack(flat, layout):
    """The parts packed in `flat` as nodes with the shapes and dtypes of `layout`."""
    parts, start = [], 0
    for shape, dtype in layout:
        size = size_of(shape)
        part = reshape(Slice(flat, slice(start, start + size)), shape)
        parts.append(part if part.dtype == dtype else Cast(part, dtype))
        start += size
    return parts


def _flatten(value, what):
    """(nodes, form): the nodes of a node, tuple or list; `form` rebuilds the same kind."""
    if isinstance(value, (tuple, list)):
        nodes = [as_node(v) for v in value]
        return nodes, (type(value), len(nodes))
    if value is None:
        raise TypeError(f"scan: {what} is None")
    return [as_node(value)], None


def _unflatten(nodes, form):
    if form is None:
        return nodes[0] if nodes else None
    kind, n = form
    return kind(nodes[:n])


def _length(x_nodes, length):
    lengths = {x.shape[0] for x in x_nodes if x.ndim}
    if any(x.ndim == 0 for x in x_nodes):
        raise ValueError("scan: every sequence in xs needs a leading (time) axis")
    if len(lengths) > 1:
        raise ValueError(f"scan: the sequences in xs have different lengths {sorted(lengths)}")
    if length is not None and lengths and length not in lengths:
        raise ValueError(f"scan: length={length} but the sequences have length "
                         f"{lengths.pop()}")
    if length is None and not lengths:
        raise ValueError("scan: give xs or length")
    return int(length if length is not None else lengths.pop())


def _name(fn):
    return getattr(fn, "__name__", "scan")

