"""Evaluation: `evaluate` for one-off calls, `function` for repeated ones.

Both walk the graph in topological order without recursion, compute each node once even
when several outputs share it, and drop each intermediate value after its last use. No
value is ever stored on a node, so results always reflect the current Variable values.

`function` does the planning once: the schedule (a flat list of kernel calls over slots
in a buffer, in an order chosen for low peak memory: `schedule.py`), the constants, and
the point after which each slot can be freed; from its second call it runs the schedule
as generated straight-line code (`codegen.py`).
"""
import numpy as np

from ..core.node import Node, Variable, Constant, check_value_shape
from ..core.gcpause import gc_paused
from ..core.traversal import topo_sort
from .codegen import compile_steps
from .schedule import add_into_total, assign_slots, best_order, plan_steps, value_bytes


class EvaluationError(RuntimeError):
    """A node's forward computation failed; the message names the node."""


def evaluate(nodes, feed=None, simplify="auto"):
    """Values of `nodes` (a node or a list of nodes) for the current Variable values.

    `feed` maps Variables to values used for this call only. The plan (and simplified
    graph) is made on the first call and kept on the first node, so evaluating the same
    nodes again costs only the computation. Returns an array for a single node, else a
    list of arrays.

    `simplify`: True or False, or "auto" (the default): simplify when the graph holds
    derivatives of derivatives, where graphs grow fast and rewriting pays; a first-order
    graph built anew each step runs as built, with no rewriting cost per step.
    """
    outputs = [nodes] if isinstance(nodes, Node) else list(nodes)
    if not outputs:
        return []
    feed = dict(feed or {})
    key = (isinstance(nodes, Node), tuple(map(id, outputs)), tuple(map(id, feed)), simplify)
    plans = getattr(outputs[0], "_plans", None)
    if plans is None:
        plans = outputs[0]._plans = {}
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = Function(nodes, inputs=list(feed), simplify=simplify,
                                     search_schedule=False)
    return plan(*feed.values())


def function(outputs, inputs=()):
    """Compile `outputs` into a callable taking values for `inputs` (Variables), in order.

    ``f = ad.function([loss, *grads], inputs=[x_batch, y_batch]); f(xb, yb)``. Variables
    not listed in `inputs` are read at each call, so parameter updates are seen.
    """
    return Function(outputs, inputs)


class Function:
    """A fixed evaluation schedule for `outputs`; call it with values for `inputs`.

    The outputs are simplified first (`ad.simplify`) unless ``simplify=False``;
    ``simplify="auto"`` simplifies only graphs holding derivatives of derivatives. The
    order of the steps is chosen to keep peak memory low (`runtime.schedule`); with
    ``search_schedule=False`` (one-off evaluations) it is found in one cheap pass.
    """

    def __init__(self, outputs, inputs=(), simplify=True, search_schedule=True):
        with gc_paused():
            self._plan(outputs, inputs, simplify, search_schedule)

    def _plan(self, outputs, inputs, simplify, search_schedule):
        self.single = isinstance(outputs, Node)
        self.outputs = [outputs] if self.single else list(outputs)
        for i, out in enumerate(self.outputs):
            if not isinstance(out, Node):
                raise TypeError(f"outputs[{i}] is a {type(out).__name__}, not a node")
        order = topo_sort(self.outputs)
        if simplify == "auto":
            simplify = _has_higher_order_nodes(order)
        if simplify:
            from ..rewrite import simplify as simplify_graph
            self.outputs = simplify_graph(self.outputs)
            order = topo_sort(self.outputs)
        self.inputs = list(inputs)
        for v in self.inputs:
            if not isinstance(v, Variable):
                raise TypeError(f"inputs (and feed keys) must be Variables; got {v!r}")
        self.nodes = order  # the graph that runs, children before parents
        steps, index = plan_steps(order, self.outputs)
        outputs = [index[id(out)] for out in self.outputs]
        order = best_order(steps, outputs, search_schedule)
        slot, frees, self.size = assign_slots(steps, order, outputs)
        self.output_slots = [slot[i] for i in outputs]
        inputs_ids = {id(v) for v in self.inputs}
        self.leaves = []     # (slot, Variable) read at each call
        self.constants = []  # (slot, value) fixed
        for i, step in enumerate(steps):
            node = step.node
            if step.args:
                continue
            if isinstance(node, Constant):
                self.constants.append((slot[i], node.value))
            elif isinstance(node, Variable):
                if id(node) not in inputs_ids:
                    self.leaves.append((slot[i], node))
            else:
                raise TypeError(f"{node!r} is a leaf that is neither a Variable nor a Constant")
        self.input_slots = [slot[index[id(v)]] if id(v) in index else None
                            for v in self.inputs]
        # (kernel, argument slots, output slot, slots to free after it, node)
        self.steps = [(steps[i].kernel, tuple(slot[a] for a in steps[i].args), slot[i],
                       frees.get(i, ()), steps[i].node)
                      for i in order if steps[i].args]
        self._loaded = ([s for s, _ in self.constants] + [s for s, _ in self.leaves]
                        + [s for s in self.input_slots if s is not None])
        self._compiled = None  # straight-line code for the steps, made at the second call
        self._called = False

    def planned_peak_bytes(self):
        """The most bytes of computed values alive at once in a call, from node shapes
        (views of stored values count as free; arrays numpy allocates inside a kernel do
        not count)."""
        held, live, peak = {}, 0, 0
        for kernel, args, out, free, node in self.steps:
            if kernel is add_into_total:  # the total it extends becomes this value
                live -= held.pop(args[0], 0)
            held[out] = value_bytes(node)
            live += held[out]
            peak = max(peak, live)
            live -= sum(held.pop(f, 0) for f in free)
        return peak

    def __call__(self, *values):
        if len(values) != len(self.inputs):
            raise TypeError(f"this function takes {len(self.inputs)} input value(s) "
                            f"({', '.join(v.describe() for v in self.inputs)}), got {len(values)}")
        buf = [None] * self.size
        for s, value in self.constants:
            buf[s] = value
        for s, leaf in self.leaves:
            buf[s] = leaf.value
        for var, s, value in zip(self.inputs, self.input_slots, values):
            if s is not None:
                buf[s] = _as_value(var, value)
        # an output that is a stored array itself (a constant, a Variable's value, an
        # input, or one passed through unchanged, as stop_gradient does) is copied
        stored = {id(buf[s]) for s in self._loaded}
        with np.errstate(all="ignore"):  # inf and NaN are values here, not warnings
            if self._compiled is None and self._called:  # a second call: worth compiling
                self._compiled = compile_steps(self.steps, self._loaded, self.output_slots)
            self._called = True
            if self._compiled is None:
                outputs = self._run_steps(buf)
            else:
                try:
                    outputs = self._compiled(list(buf))  # it hands values over in its buffer
                except Exception:
                    outputs = self._run_steps(buf)  # raises, naming the node that failed
        results = [np.array(v) if id(v) in stored else _owned(v) for v in outputs]
        return results[0] if self.single else results

    def _run_steps(self, buf):
        """The step loop: the first call, and the reference that attributes failures."""
        step = None
        try:
            for step in self.steps:
                kernel, args, out, free, _ = step
                buf[out] = kernel(*[buf[a] for a in args])
                for f in free:
                    buf[f] = None
        except Exception as err:
            node = step[4]
            raise EvaluationError(f"evaluating {node!r} failed: {type(err).__name__}: "
                                  f"{err}") from err
        return [buf[s] for s in self.output_slots]


def _as_value(var, value):
    array = np.asarray(value)
    check_value_shape(var, array)
    return array.astype(var.dtype, copy=False)


def _has_higher_order_nodes(nodes):
    """True when some node was built by differentiating a derivative node."""
    return any(n.derivative_of is not None and n.derivative_of.derivative_of is not None
               for n in nodes)


def _owned(value):
    """`value`, copied when it is a view (which may look into a constant or a Variable's
    value): a caller may change a result in place without corrupting later calls."""
    if isinstance(value, np.ndarray) and (value.base is not None or not value.flags.writeable):
        return value.copy()
    return value
