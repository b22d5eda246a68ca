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
from ..core.params import freeze
from ..core.shapes import size_of
from ..core.traversal import topo_sort
from ..ops.functions import reshape, zeros_like
from ..ops.arithmetic import Add
from ..ops.einsum import Einsum
from ..ops.logic import Cast
from ..ops.shape_ops import BroadcastTo, ReduceSumToShape, Reshape, Slice, align_batched
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
class Body(namedtuple("Body", "outputs places n_carry n_x n_ys y_form name function")):
    """A traced loop body (see above)."""

    __slots__ = ()

    def structure_key(self):
        """What makes two bodies the same loop: the compiled body, which `compiled_body`
        shares between bodies of one structure (constants included), and the layout.
        A graph rebuilt every step traces its loop body anew; with this key the rebuilt
        scan node finds the plan of the last one (see runtime/evaluation.py)."""
        return (self.function, self.n_carry, self.n_x, self.n_ys, freeze(self.y_form),
                self.name)


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
        """``lax.scan`` over the recurrence alone (see `LoopSplit`): what depends only on
        the sequences is computed for every step at once before the loop, what the
        recurrence does not need after it, and sums accumulated over the steps as one
        contraction over the steps. Per-step values are left for the loop of this loop's
        gradient, which recomputes them (`LoopSplit`, "Shared with the gradient")."""
        return LoopSplit(self, lowering).lower(lowering, values)

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


# --- lowering to jax: the loop split into before, during and after ------------------------

#: How a loop body node's value depends on the loop: on the carries (recurrent), on the
#: sequences only, on neither (invariant), or it is an accumulator's carry or new value.
RECURRENT, SEQUENCE, INVARIANT, ACCUMULATOR = "recurrent", "sequence", "invariant", "accumulator"


class LoopSplit:
    """A scan's loop body split for `Scan.lower_jax` (on XLA, a loop step costs a dispatch
    of every op in it, and small products run far below BLAS speed).

    * The loop (``lax.scan``) computes only the recurrence: the nodes the new carries
      depend on that depend on a carry, and the nodes no op can batch.
    * Before it, the nodes that depend on the sequences and not on a carry are computed
      for every step at once, batched over a leading time axis by their ops' own `batch`
      rules (``x_t @ W`` for all t is one product); the loop reads their slices.
    * After it, everything else the outputs need, batched the same way, from the values
      the loop stacks (``h_t @ W_out`` for all t: one product).
    * An accumulator, a carry whose only use is ``carry + term`` giving its new value,
      is not carried at all: its final value is the initial one plus the term summed over
      the steps, and a sum over the steps of a contraction is one contraction over the
      steps too (a weight gradient ``sum_t x_t.T @ g_t`` is one product of the stacked
      values).

    Shared with the gradient: the loop of a scan's gradient recomputes, step by step,
    what the scan computed from the same carries and slices (the gradient keeps only the
    carries entering each step). With a `lowering`, the split remembers its per-step
    values under structural keys (a node's op and parameters over the outside nodes the
    loop reads, a carry standing for the scan's value entering each step), and recalls
    such values instead of computing them again.

    The values are the loop's, up to the order in which sums are added.
    """

    def __init__(self, scan, lowering=None):
        body = scan.body
        self.lowering = lowering
        self.scan, self.length = scan, scan.length
        n_carry, n_x = scan.n_carry, scan.n_x
        self.carry_places = body.places[:n_carry]
        self.x_places = body.places[n_carry:n_carry + n_x]
        self.inv_places = body.places[n_carry + n_x:]
        self.new_carries, self.ys = body.outputs[:n_carry], body.outputs[n_carry:]
        self.order = topo_sort(body.outputs)
        self.accumulators = self._accumulators(body.outputs)
        self.kinds = self._kinds()
        self.keys = self._structural_keys()
        self.recurrent = [k for k in range(n_carry) if k not in self.accumulators]
        self.loop = self._ancestors_in_loop([self.new_carries[k] for k in self.recurrent])
        while True:  # a node no op can batch joins the loop, with what it depends on
            self._close_loop()
            refused = self._batch_outside_loop()
            if refused is None:
                break
            self.loop |= self._ancestors_in_loop([refused])
        self.before = [node for node in self.order if self.kinds[id(node)] == SEQUENCE
                       and node.children and id(node) not in self.loop
                       and id(node) not in self.after_loop and id(node) not in self.recalled]

    # --- the split -------------------------------------------------------------------------
    def _accumulators(self, outputs):
        """{carry index: terms} for carries used only as ``new = carry + terms``."""
        uses = {}
        for node in self.order:
            for c in node.children:
                uses[id(c)] = uses.get(id(c), 0) + 1
        for out in outputs:
            uses[id(out)] = uses.get(id(out), 0) + 1
        found, self.sum_nodes = {}, set()
        for k, (place, new) in enumerate(zip(self.carry_places, self.new_carries)):
            if not isinstance(new, Add) or uses.get(id(place)) != 1 or uses.get(id(new)) != 1:
                continue
            terms, adds = _sum_terms(new, uses)
            if any(t is place for t in terms):
                found[k] = [t for t in terms if t is not place]
                self.sum_nodes.update(adds)
        return found

    def _kinds(self):
        kinds = {}
        for k, place in enumerate(self.carry_places):
            kinds[id(place)] = ACCUMULATOR if k in self.accumulators else RECURRENT
        for add in self.sum_nodes:  # the sums giving an accumulator's new value
            kinds[add] = ACCUMULATOR
        for place in self.x_places:
            kinds[id(place)] = SEQUENCE
        for node in self.order:
            if id(node) in kinds:
                continue
            of_children = {kinds[id(c)] for c in node.children}
            kinds[id(node)] = (RECURRENT if RECURRENT in of_children else
                               SEQUENCE if SEQUENCE in of_children else INVARIANT)
        return kinds

    def _ancestors_in_loop(self, roots):
        """`roots` and the nodes depending on a carry that they depend on (ids)."""
        found, stack = set(), list(roots)
        while stack:
            node = stack.pop()
            if id(node) in found:
                continue
            found.add(id(node))
            stack.extend(c for c in node.children if self.kinds[id(c)] == RECURRENT)
        return found

    def _close_loop(self):
        """Complete `loop` with the nodes a loop node reads that depend on a loop node
        (they cannot be computed before it), and note in `after_loop` the other nodes
        depending on the loop: they are computed after it."""
        while True:
            self.after_loop = set()
            for node in self.order:
                if id(node) not in self.loop and any(
                        id(c) in self.loop or id(c) in self.after_loop for c in node.children):
                    self.after_loop.add(id(node))
            needed = [c for node in self.order if id(node) in self.loop
                      for c in node.children if id(c) in self.after_loop]
            if not needed:
                return
            self.loop |= self._ancestors_in_loop(needed)

    def _structural_keys(self):
        """id -> a key equal for nodes computing the same per-step values: op, parameters
        and the keys of the children; a place stands for what the scan feeds it."""
        keys = {id(p): ("carry", id(self.scan), k) for k, p in enumerate(self.carry_places)}
        operands = self.scan.children[len(self.carry_places):]
        for place, operand in zip(self.x_places + self.inv_places, operands):
            keys[id(place)] = _operand_key(operand)
        for node in self.order:
            if id(node) not in keys:
                keys[id(node)] = (type(node), freeze(node.params),
                                  tuple(keys[id(c)] for c in node.children)) \
                    if node.children else node.key()
        return keys

    def _recalled(self, node):
        """The stacked values of `node` an earlier lowering remembered, or None."""
        if self.lowering is None or self.kinds[id(node)] != SEQUENCE:
            return None
        value = self.lowering.recall(("per step", self.keys[id(node)]))
        if value is None or value.shape != (self.length,) + node.shape \
                or value.dtype != node.dtype:
            return None
        return value

    def _batch_outside_loop(self):
        """Build `batched` (id -> node with a leading time axis) for every node outside
        the loop; returns a node its op cannot batch, or None."""
        T = self.length
        self.batched, self.stacked_in_loop, self.recalled, self.shifted = {}, {}, {}, {}
        for place in self.carry_places + self.x_places:  # the states, the sequences
            self.batched[id(place)] = Variable.placeholder((T,) + place.shape, place.dtype,
                                                           f"stacked {place.name}")
        for node in self.order:
            if not node.children or id(node) in self.loop or \
                    self.kinds[id(node)] in (INVARIANT, ACCUMULATOR):
                continue
            value = self._recalled(node)
            if value is not None:  # computed already, by the loop this one differentiates
                holder = Variable.placeholder((T,) + node.shape, node.dtype, "recalled")
                self.batched[id(node)] = holder
                self.recalled[id(node)] = (holder, value)
                continue
            operands = [self.stacked(c) if self.kinds[id(c)] != INVARIANT else c
                        for c in node.children]
            flags = [self.kinds[id(c)] != INVARIANT for c in node.children]
            batched = _batch_over_steps(node, operands, flags, T)
            if batched is None:
                return node
            self.batched[id(node)] = batched
        return None

    def stacked(self, node):
        """A node (outside the loop) for the values of body node `node` at every step."""
        if self.kinds[id(node)] == INVARIANT:
            return BroadcastTo(node, (self.length,) + node.shape)
        if id(node) in self.batched:
            return self.batched[id(node)]
        carry = next((k for k in self.recurrent if self.new_carries[k] is node), None)
        if carry is not None:  # a new carry: the states shifted by one step, not stacked
            if carry not in self.shifted:
                self.shifted[carry] = Variable.placeholder((self.length,) + node.shape,
                                                           node.dtype, f"new {node.name}")
            return self.shifted[carry]
        holder = self.stacked_in_loop.get(id(node))
        if holder is None:  # a loop value: the loop stacks it
            holder = Variable.placeholder((self.length,) + node.shape, node.dtype,
                                          f"stacked {node.name}")
            self.stacked_in_loop[id(node)] = holder
        return holder

    # --- the program ---------------------------------------------------------------------
    def lower(self, lowering, values):
        """The packed value of the scan (see Scan) from its operands' jax values."""
        jnp = lowering.jnp
        n_carry, n_x = len(self.carry_places), len(self.x_places)
        init, xs = values[:n_carry], values[n_carry:n_carry + n_x]
        invariants = values[n_carry + n_x:]
        after = self._after(lowering)  # built first: it says which loop values to stack
        # before the loop: the sequence-only nodes for every step at once (XLA drops the
        # ones nothing reads)
        recalled = list(self.recalled.values())
        before = lowering.graph([self.batched[id(n)] for n in self.before],
                                [self.batched[id(p)] for p in self.x_places]
                                + [holder for holder, _ in recalled] + list(self.inv_places))
        by_id = {id(n): n for n in self.order}
        before_values = before(*xs, *[value for _, value in recalled], *invariants)
        per_step = list(zip(self.before, before_values)) \
            + [(by_id[i], value) for i, (_, value) in self.recalled.items()]
        final, states, loop_stacks = self._run_loop(lowering, init, xs, per_step, invariants)
        given = (list(xs) + [states[k] for k in range(n_carry) if k in self.recurrent]
                 + loop_stacks + [self._new_carry_values(jnp, k, final, states)
                                  for k in self.shifted]
                 + [value for _, value in per_step] + list(invariants))
        out = after["run"](*given)
        n_ys, n_sums, n_stacks = len(self.ys), after["n_sums"], after["n_stacks"]
        ys, sums = out[:n_ys], out[n_ys:n_ys + n_sums]
        term_stacks = out[n_ys + n_sums:n_ys + n_sums + n_stacks]
        self._remember(jnp, per_step, zip(after["published"], out[n_ys + n_sums + n_stacks:]),
                       loop_stacks, final, states)
        for k, (lo, hi) in after["terms"].items():
            final[k] = (init[k] + sum(sums[lo:hi])).astype(init[k].dtype)
            states[k] = self._accumulated_states(jnp, init[k], term_stacks[lo:hi])
        parts = list(final) + list(ys) + list(states)
        return jnp.concatenate([jnp.ravel(p).astype(self.scan.dtype) for p in parts]) \
            if parts else jnp.zeros(0, self.scan.dtype)

    def _after(self, lowering):
        """The graph after the loop: the stacked outputs, each accumulator's terms summed
        over the steps, and the terms at every step (for the accumulators' states)."""
        outputs = [self.stacked(y) for y in self.ys]
        sums, stacks, terms = [], [], {}
        for k, ts in self.accumulators.items():
            terms[k] = (len(sums), len(sums) + len(ts))
            for t in ts:
                stacks.append(self.stacked(t))
                sums.append(_summed_over_steps(stacks[-1]))
        # every other value computed after the loop, for the loop of the gradient (XLA
        # drops what nothing reads)
        published = [n for n in self.order if id(n) in self.batched and n.children
                     and id(n) in self.after_loop | self._recurrent_outside_loop()
                     and id(n) not in self.recalled] if self.lowering is not None else []
        leaves = ([self.batched[id(p)] for p in self.x_places]
                  + [self.batched[id(self.carry_places[k])] for k in self.recurrent]
                  + list(self.stacked_in_loop.values()) + list(self.shifted.values())
                  + [self.batched[id(n)] for n in self.before]
                  + [holder for holder, _ in self.recalled.values()] + list(self.inv_places))
        outputs = outputs + sums + stacks + [self.batched[id(n)] for n in published]
        return {"run": lowering.graph(outputs, leaves), "n_sums": len(sums),
                "n_stacks": len(stacks), "terms": terms, "published": published}

    def _recurrent_outside_loop(self):
        return {id(n) for n in self.order if self.kinds[id(n)] == RECURRENT
                and id(n) not in self.loop}

    def _remember(self, jnp, per_step, after_values, loop_stacks, final, states):
        """Leave every per-step value at hand for the loop of the gradient: before and
        after the loop, stacked by it, and each new carry (the states shifted by one)."""
        if self.lowering is None:
            return
        by_id = {id(n): n for n in self.order}
        known = list(per_step) + list(after_values) \
            + [(by_id[i], v) for i, v in zip(self.stacked_in_loop, loop_stacks)]
        for k in self.recurrent:
            known.append((self.new_carries[k], self._new_carry_values(jnp, k, final, states)))
        for node, value in known:
            self.lowering.remember(("per step", self.keys[id(node)]), value)

    def _run_loop(self, lowering, init, xs, per_step, invariants):
        """lax.scan of the recurrence: (final carries, states, stacked loop values), the
        last two lists aligned with the carries and with `stacked_in_loop`. `per_step`:
        (node, stacked values) known before the loop; it reads their slices."""
        final, states = list(init), [None] * len(self.carry_places)
        if not self.loop:
            return final, states, []
        in_loop = [node for node in self.order if id(node) in self.loop]
        read = {id(c) for node in in_loop for c in node.children}
        sliced = [(n, v) for n, v in per_step if id(n) in read]
        slots = [Variable.placeholder(n.shape, n.dtype, f"slice {n.name}") for n, _ in sliced]
        by_id = {id(n): n for n in self.order}
        outputs = [self.new_carries[k] for k in self.recurrent] \
            + [by_id[i] for i in self.stacked_in_loop]
        outputs = _replace(outputs, [n for n, _ in sliced], slots)
        places = [self.carry_places[k] for k in self.recurrent]
        run = lowering.graph(outputs, places + list(self.x_places) + slots
                             + list(self.inv_places))
        n_rec = len(places)

        def step(carry, slices):
            out = run(*carry, *slices, *invariants)
            return tuple(out[:n_rec]), (carry, tuple(out[n_rec:]))

        last, (entering, stacks) = lowering.lax.scan(
            step, tuple(init[k] for k in self.recurrent),
            tuple(xs) + tuple(v for _, v in sliced), length=self.length,
            reverse=self.scan.reverse)
        for j, k in enumerate(self.recurrent):
            final[k], states[k] = last[j], entering[j]
        return final, states, list(stacks)

    def _new_carry_values(self, jnp, k, final, states):
        """Carry k's new value at every step: its value entering the next step (in the
        loop's direction), the final value for the last."""
        last = final[k][None]
        if self.scan.reverse:
            return jnp.concatenate([last, states[k][:-1]])
        return jnp.concatenate([states[k][1:], last])

    def _accumulated_states(self, jnp, init, term_stacks):
        """An accumulator's value entering each step: the initial value plus the terms of
        the steps before (in the loop's direction)."""
        total = sum(t.reshape(t.shape[:1] + (1,) * (init.ndim + 1 - t.ndim) + t.shape[1:])
                    for t in term_stacks)  # a term may broadcast against the carry
        if self.scan.reverse:
            total = jnp.flip(total, axis=0)
        before = jnp.cumsum(total, axis=0) - total
        if self.scan.reverse:
            before = jnp.flip(before, axis=0)
        return (init + before).astype(init.dtype)


def _operand_key(node):
    """The structural key a scan gives the place it feeds with outside node `node`: the
    node itself, or, for the values another scan's carry had entering each step (a
    slice of that scan's packed value), that scan and carry."""
    if isinstance(node, Reshape) and isinstance(node.children[0], Slice):
        piece = node.children[0]
        scan, item = piece.children[0], piece.item
        if isinstance(scan, Scan) and isinstance(item, slice) and item.step is None:
            start = 0
            for k, (shape, _) in enumerate(scan.layout):
                if (start, start + size_of(shape)) == (item.start, item.stop) \
                        and k >= scan.n_carry + scan.n_ys and node.shape == shape:
                    return ("carry", id(scan), k - scan.n_carry - scan.n_ys)
                start += size_of(shape)
    return ("node", id(node))


def _sum_terms(total, uses):
    """The terms of `total`, a sum (Add) of sums used nowhere else, and the ids of those
    Add nodes."""
    terms, adds, stack = [], set(), [total]
    while stack:
        node = stack.pop()
        if isinstance(node, Add) and (node is total or uses.get(id(node)) == 1) \
                and node.shape == total.shape:
            adds.add(id(node))
            stack.extend(reversed(node.children))
        else:
            terms.append(node)
    return terms, adds


def _batch_over_steps(node, operands, flags, size):
    """`node` batched over a leading axis of the flagged operands by its op's rule (or
    broadcasting, for an elementwise op); None when neither applies."""
    rule = getattr(node, "batch", None)
    result = rule(operands, flags, size) if rule is not None else None
    if result is not None:
        return result
    if node.elementwise:
        return node.with_children([align_batched(o, node.ndim) if f else o
                                   for o, f in zip(operands, flags)])
    return None


def _summed_over_steps(stacked):
    """The sum over the leading (time) axis of `stacked`: for an einsum, the same einsum
    with the time label contracted (a weight gradient summed over steps is one product)."""
    if isinstance(stacked, Einsum) and stacked.output[:1] not in stacked.output[1:]:
        return Einsum(",".join(stacked.inputs) + "->" + stacked.output[1:], *stacked.children)
    return ReduceSumToShape(stacked, stacked.shape[1:])


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

