"""`Function`: a graph compiled for repeated evaluation.

Planning is done once: the graph is rewritten (`rewrite_for_evaluation`: what the user
wrote is computed as written, derivative parts are simplified), the steps are ordered for
low peak memory (`schedule.py`), each value gets a buffer slot that is reused after its
last reader, and from the second call the steps run as generated straight-line code
(`codegen.py`).

While a function runs, the arrays of Variables and inputs are seen by the kernels only
as read-only views, and outputs never alias them: evaluation cannot write into an array
a user owns. The first call (and every one-off evaluation) checks each value against the
shape and dtype its node declared, so an op whose kernel disagrees with its own rules is
named at once instead of producing wrong results downstream.
"""
import numpy as np

from ..core.gcpause import gc_paused
from ..core.node import Variable, Constant, check_value_shape
from ..core.traversal import topo_sort
from ..rewrite import rewrite_with_order
from .codegen import compile_steps
from .compiled import CompiledFunction
from .schedule import add_into_total, assign_slots, best_order, plan_steps, value_bytes


class EvaluationError(RuntimeError):
    """A node's forward computation failed or disagreed with its declaration; the
    message names the node."""


class Function(CompiledFunction):
    """A graph compiled for numpy: a fixed evaluation schedule for `outputs`, called with
    values for `inputs` (see `ad.function` for `updates` and inputs of new shapes).

    `simplify`: True (rewrite before running, see `ad.function`), False (run the graph
    as built), or "auto" (rewrite only graphs holding derivatives of derivatives, where
    graphs grow fast and rewriting pays). `search_schedule=False` (one-off evaluations)
    orders the steps in one cheap pass instead of comparing candidates.
    """

    def __init__(self, outputs, inputs=(), updates=None, simplify=True, search_schedule=True,
                 fast_math=False):
        super().__init__(outputs, inputs, updates, simplify=simplify,
                         search_schedule=search_schedule, fast_math=fast_math)

    @classmethod
    def with_order(cls, outputs, order, inputs=(), **options):
        """`Function(outputs, inputs, **options)` for a caller that has sorted the graph
        already (`order`: its nodes children first, as `topo_sort` gives them; no update
        nodes): planning a large graph then walks it once less."""
        function = cls.__new__(cls)
        function._given_order = order
        function.__init__(outputs, inputs, **options)
        return function

    def _compile(self, nodes):
        with gc_paused():
            self._plan(nodes, **self._options)

    def _plan(self, requested, simplify, search_schedule, fast_math):
        original = self.__dict__.pop("_given_order", None) or topo_sort(requested)
        if simplify == "auto":
            simplify = has_higher_order_nodes(original)
        self.rewritten = bool(simplify)
        if simplify:  # the rewriting walks the graph it returns: its order is reused
            self.outputs, order = rewrite_with_order(requested, fast_math, original)
        else:
            self.outputs, order = requested, original
        self.nodes = order  # the graph that runs, children before parents
        steps, index = plan_steps(order, self.outputs)
        outputs = [index[id(out)] for out in self.outputs]
        step_order = best_order(steps, outputs, search_schedule)
        slot, frees, self.size = assign_slots(steps, step_order, outputs)
        self.output_slots = [slot[i] for i in outputs]
        # where each node of the running graph sits in the graph as given (for `rebind`)
        position = {id(n): i for i, n in enumerate(original)}
        input_index = {id(v): k for k, v in enumerate(self.inputs)}
        self.leaves = []  # (slot, how, what): how is "input", "node" or "value"
        for i, step in enumerate(steps):
            node = step.node
            if step.args:
                continue
            if not isinstance(node, (Variable, Constant)):
                raise TypeError(f"{node!r} is a leaf that is neither a Variable nor a Constant")
            if id(node) in input_index:
                self.leaves.append((slot[i], "input", input_index[id(node)]))
            elif id(node) in position:
                self.leaves.append((slot[i], "node", position[id(node)]))
            else:  # a constant the rewrites made
                self.leaves.append((slot[i], "value", node.value))
        self.input_slots = {k for _, how, k in self.leaves if how == "input"}
        self.original_nodes = original
        # (kernel, argument slots, output slot, slots to free after it, node)
        computed = [i for i in step_order if steps[i].args]
        self.steps = [(steps[i].kernel, tuple(slot[a] for a in steps[i].args), slot[i],
                       frees.get(i, ()), steps[i].node) for i in computed]
        # the steps whose kernel is their node's own (not a running total's np.add, nor
        # one the planner chose), by the node's position in the graph as given: `rebind`
        # takes theirs from a new graph. A numpy ufunc is kept: it reads nothing of its
        # node, and a node of the same structure that chose another kernel (Pow's
        # square for a constant exponent 2) computes the same values as it.
        self._rebindable = [] if self.rewritten else \
            [(k, position[id(steps[i].node)]) for k, i in enumerate(computed)
             if steps[i].own_kernel and not isinstance(steps[i].kernel, np.ufunc)]
        self._own_kernels = [self.steps[k][0] for k, _ in self._rebindable]
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

    def _run(self, values, prepared=False):
        """The values of the compiled nodes. `prepared`: `values` are arrays of the input
        Variables' shapes and dtypes that kernels may not write into (a loop's inner
        function, called many times on values checked once by its caller)."""
        buf, stored = self._load(values, self.original_nodes, prepared)
        with np.errstate(all="ignore"):  # inf and NaN are values here, not warnings
            outputs = self._run_kernels(buf, self._own_kernels)
        return self._owned(outputs, stored)

    def rebind(self, nodes, values):
        """Run this schedule on another graph of the same structure: `nodes` is that
        graph's topological order (as `topo_sort` gives it) and `values` the inputs.
        Leaves are read from it, and, when the graph was not rewritten, kernels too."""
        kernels = [nodes[pos].kernel() for _, pos in self._rebindable]
        buf, stored = self._load(values, nodes)
        with np.errstate(all="ignore"):
            return self._owned(self._run_kernels(buf, kernels, nodes), stored)

    def _run_kernels(self, buf, kernels, nodes=None):
        """The steps on the loaded `buf`, with `kernels` for the rebindable ones (those of
        `nodes`, another graph's order, when given): by the step loop the first time,
        then by generated code."""
        if self._compiled is None and self._called:  # a second call: worth compiling
            self._compiled = compile_steps(self.steps, self.output_slots,
                                           [k for k, _ in self._rebindable])
        self._called = True
        if self._compiled is not None:
            try:
                return self._compiled(list(buf), kernels)  # it hands values over in `buf`
            except Exception:
                pass  # the loop runs them again and raises, naming the node
        steps = self.steps
        if nodes is not None:
            steps = list(steps)
            for (k, pos), kernel in zip(self._rebindable, kernels):
                _, args, out, free, _ = steps[k]
                steps[k] = (kernel, args, out, free, nodes[pos])
        return self._run_steps(buf, steps)

    def _load(self, values, nodes, prepared=False):
        """The buffer with the leaves' values as read-only views, and {id: array} of those
        arrays (an output that is one of them is copied)."""
        buf = [None] * self.size
        for s, how, what in self.leaves:
            if how == "input":
                value = values[what]
                buf[s] = value if prepared else read_only(_as_value(self.inputs[what], value))
            elif how == "node":
                buf[s] = read_only(nodes[what].value)
            else:
                buf[s] = what
        # (the arrays themselves are kept: an id alone could be reused by an output made
        # after the step loop freed the leaf, and that output would be copied for nothing)
        stored = {id(buf[s]): buf[s] for s, _, _ in self.leaves}
        return buf, stored

    @staticmethod
    def _owned(outputs, stored):
        """The outputs, each an array the caller owns: copies of stored arrays and views."""
        return [np.array(v) if id(v) in stored else _owned(v) for v in outputs]

    def _run_steps(self, buf, steps):
        """The step loop: the first call, one-off evaluations, and the reference that
        attributes a failure or a wrong shape or dtype to its node."""
        step = None
        try:
            for step in steps:
                kernel, args, out, free, node = step
                value = kernel(*[buf[a] for a in args])
                if kernel not in _RUNNING_TOTALS:  # (a partial sum has its own shape)
                    if not hasattr(value, "dtype"):  # a Python number from a user's forward
                        value = np.asarray(value)
                    if value.shape != node.shape or value.dtype != node.dtype:
                        raise EvaluationError(_mismatch(node, value))
                buf[out] = value
                for f in free:
                    buf[f] = None
        except EvaluationError:
            raise
        except Exception as err:
            raise EvaluationError(f"evaluating {step[4]!r} failed: {type(err).__name__}: "
                                  f"{err}") from err
        return [buf[s] for s in self.output_slots]


#: Kernels of the running totals a long sum is split into (schedule.py).
_RUNNING_TOTALS = (np.add, add_into_total)


def _mismatch(node, value):
    return (f"{node!r}: its kernel returned a value of shape {value.shape} and dtype "
            f"{value.dtype}, but "
            f"the node declared shape {node.shape} and dtype {node.dtype}; the op's "
            f"forward and its infer_shape/infer_dtype rules disagree")


def _as_value(var, value):
    array = np.asarray(value)
    check_value_shape(var, array)
    return array.astype(var.dtype, copy=False)


def read_only(array):
    """A read-only view of `array`: kernels can read it but never write into it."""
    view = array.view()
    view.flags.writeable = False
    return view


def has_higher_order_nodes(nodes):
    """True when some node was built by differentiating a derivative node."""
    return any(n.derivative_of is not None and n.derivative_of.derivative_of is not None
               for n in nodes)


def _owned(value):
    """`value`, copied when it is a view (which may look into a constant or a Variable's
    value): a caller may change a result in place without corrupting later calls."""
    if isinstance(value, np.ndarray) and (value.base is not None or not value.flags.writeable):
        return value.copy()
    return value
