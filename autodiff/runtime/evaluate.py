"""Evaluation: `evaluate` for one-off calls, `function` for repeated ones.

Both walk the graph in topological order without recursion, compute each node once even
when several outputs share it, and drop each intermediate value after its last use. No
value is ever stored on a node, so results always reflect the current Variable values.

`function` does the planning once: the schedule (a flat list of kernel calls over slots
in a buffer), the constants, and the point after which each slot can be freed.
"""
import numpy as np

from ..core.node import Node, Variable, Constant, check_value_shape
from ..core.gcpause import gc_paused
from ..core.traversal import topo_sort


class EvaluationError(RuntimeError):
    """A node's forward computation failed; the message names the node."""


def evaluate(nodes, feed=None):
    """Values of `nodes` (a node or a list of nodes) for the current Variable values.

    `feed` maps Variables to values used for this call only. Shared subgraphs are computed
    once. Returns an array for a single node, else a list of arrays.
    """
    return Function(nodes, feed=feed)()


def function(outputs, inputs=()):
    """Compile `outputs` into a callable taking values for `inputs` (Variables), in order.

    ``f = ad.function([loss, *grads], inputs=[x_batch, y_batch]); f(xb, yb)``. Variables
    not listed in `inputs` are read at each call, so parameter updates are seen.
    """
    return Function(outputs, inputs)


class Function:
    """A fixed evaluation schedule for `outputs`; call it with values for `inputs`."""

    def __init__(self, outputs, inputs=(), feed=None):
        with gc_paused():
            self._plan(outputs, inputs, feed)

    def _plan(self, outputs, inputs, feed):
        self.single = isinstance(outputs, Node)
        self.outputs = [outputs] if self.single else list(outputs)
        for i, out in enumerate(self.outputs):
            if not isinstance(out, Node):
                raise TypeError(f"outputs[{i}] is a {type(out).__name__}, not a node")
        self.inputs = list(inputs)
        for v in self.inputs:
            if not isinstance(v, Variable):
                raise TypeError(f"inputs must be Variables; got {v!r}")
        fed = {}
        for var, value in (feed or {}).items():
            if not isinstance(var, Variable):
                raise TypeError(f"feed keys must be Variables; got {var!r}")
            fed[id(var)] = _as_value(var, value)
        order = topo_sort(self.outputs)
        self.size = len(order)
        self.nodes = order  # slot i holds the value of nodes[i]
        slot = {}
        last_use = list(range(len(order)))  # slot -> the step index that reads it last
        inputs_ids = {id(v) for v in self.inputs}
        self.leaves = []     # (slot, Variable) read at each call
        self.constants = []  # (slot, value) fixed
        ops = []             # (slot, node, argument slots)
        for s, node in enumerate(order):
            slot[id(node)] = s
            if id(node) in fed:
                self.constants.append((s, fed[id(node)]))
            elif node.children:
                args = tuple([slot[id(c)] for c in node.children])
                for a in args:
                    last_use[a] = s
                ops.append((s, node, args))
            elif isinstance(node, Constant):
                self.constants.append((s, node.value))
            elif isinstance(node, Variable):
                if id(node) not in inputs_ids:
                    self.leaves.append((s, node))
            else:
                raise TypeError(f"{node!r} is a leaf that is neither a Variable nor a Constant")
        self.output_slots = [slot[id(out)] for out in self.outputs]
        self.input_slots = [slot.get(id(v)) for v in self.inputs]
        frees = {}
        keep = set(self.output_slots)
        for s, user in enumerate(last_use):
            if user != s and s not in keep:
                frees.setdefault(user, []).append(s)
        # (kernel, argument slots, output slot, slots to free after it, node)
        self.steps = [(node.kernel(), args, s, tuple(frees.get(s, ())), node)
                      for s, node, args in ops]

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
        with np.errstate(all="ignore"):  # inf and NaN are values here, not warnings
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
        results = [buf[s] for s in self.output_slots]
        return results[0] if self.single else results


def _as_value(var, value):
    array = np.asarray(value)
    check_value_shape(var, array)
    return array.astype(var.dtype, copy=False)
