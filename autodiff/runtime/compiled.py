"""What every compiled function does, whatever runs it: checking its arguments, updates of
Variables after each call, and inputs of new shapes.

* ``updates={w: new_w, ...}`` assigns the values of the update nodes to the Variables
  after each call, all computed from the values before the call (the outputs too), as
  one step: a training step's forward pass, gradient and parameter update in one call.
* An input of a new shape (the smaller last batch of an epoch) gets the graph rebuilt
  for it (`reinfer`: shape rules re-applied, derivatives re-derived) and planned once;
  the plan is kept for the next call of that shape. Where the new shape does not fit the
  graph, the usual build-time error says why.

A backend subclasses `CompiledFunction` and gives `_compile(nodes)` and `_run(values)`.
"""
import collections

import numpy as np

from ..core.node import Node, Variable
from .reinfer import reinfer

#: Input shapes a compiled function keeps plans for, beyond the one it was built with.
MAX_SHAPES = 8


class CompiledFunction:
    """Base of the compiled functions (numpy, jax, dask backends); see module docstring.

    `outputs` is a node or a list of nodes; `inputs` the Variables whose values each call
    takes, in order; `updates` a dict (or list of pairs) Variable -> node.
    """

    def __init__(self, outputs, inputs=(), updates=None, **options):
        self.single = isinstance(outputs, Node)
        self.requested = [outputs] if self.single else list(outputs)
        for i, out in enumerate(self.requested):
            if not isinstance(out, Node):
                raise TypeError(f"outputs[{i}] is a {type(out).__name__}, not a node")
        self.inputs = _checked_inputs(inputs)
        self.updates = _checked_updates(updates)
        self.input_shapes = tuple(v.shape for v in self.inputs)
        self._options = options
        self._shapes = collections.OrderedDict()  # other input shapes -> function for them
        self._compile(self.requested + [node for _, node in self.updates])

    # --- what a backend gives ------------------------------------------------------------
    def _compile(self, nodes):
        """Prepare to compute `nodes` (the outputs, then the update nodes)."""
        raise NotImplementedError

    def _run(self, values):
        """The values of the compiled nodes for input `values` (of the built shapes)."""
        raise NotImplementedError

    def _assign(self, variable, value):
        """Make `value` (an update's result) the Variable's value."""
        variable.set_value_owned(np.asarray(value, dtype=variable.dtype))

    # --- calls ---------------------------------------------------------------------------
    def __call__(self, *values):
        """The output values for `values` of the inputs; then the updates are applied."""
        if len(values) != len(self.inputs):
            raise TypeError(f"this function takes {len(self.inputs)} input value(s) "
                            f"({', '.join(v.describe() for v in self.inputs)}), "
                            f"got {len(values)}")
        shapes = tuple(np.shape(v) for v in values)
        if shapes != self.input_shapes:
            return self.for_shapes(shapes)(*values)
        results = self._run(values)
        n = len(self.requested)
        for (variable, _), value in zip(self.updates, results[n:]):
            self._assign(variable, value)
        outputs = results[:n]
        return outputs[0] if self.single else outputs

    def for_shapes(self, shapes):
        """The function for inputs of `shapes`: the graph rebuilt for them (see module
        docstring), compiled once and kept."""
        shapes = tuple(tuple(int(d) for d in s) for s in shapes)
        function = self._shapes.get(shapes)
        if function is not None:
            self._shapes.move_to_end(shapes)
            return function
        for var, shape in zip(self.inputs, shapes):
            if len(shape) != var.ndim:
                raise ValueError(f"input {var.describe()}: a value of shape {shape} has "
                                 f"{len(shape)} dimension(s), the graph was built for "
                                 f"{var.ndim}")
        placeholders = [Variable.placeholder(shape, var.dtype, var.name)
                        for var, shape in zip(self.inputs, shapes)]
        nodes = reinfer(self.requested + [node for _, node in self.updates],
                        dict(zip(self.inputs, placeholders)))
        n = len(self.requested)
        outputs = nodes[0] if self.single else nodes[:n]
        updates = [(var, node) for (var, _), node in zip(self.updates, nodes[n:])]
        function = type(self)(outputs, placeholders, updates,
                              **_renamed(self._options, self.inputs, placeholders))
        self._shapes[shapes] = function
        if len(self._shapes) > MAX_SHAPES:
            self._shapes.popitem(last=False)
        return function


def _renamed(options, inputs, placeholders):
    """`options` with the inputs that key a dict option (``shard={x: 0}``,
    ``chunks={x: rows}``) replaced by their placeholders."""
    new = {id(var): p for var, p in zip(inputs, placeholders)}
    return {k: {new.get(id(key), key): v for key, v in value.items()}
            if isinstance(value, dict) else value for k, value in options.items()}


def _checked_inputs(inputs):
    inputs = list(inputs)
    for v in inputs:
        if not isinstance(v, Variable):
            raise TypeError(f"inputs (and feed keys) must be Variables; got {v!r}")
    if len({id(v) for v in inputs}) != len(inputs):
        raise ValueError("inputs lists a Variable twice: "
                         + ", ".join(v.describe() for v in inputs))
    return inputs


def _checked_updates(updates):
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates or ())
    for var, node in pairs:
        if not isinstance(var, Variable):
            raise TypeError(f"updates: keys must be Variables, got {var!r}")
        if not isinstance(node, Node):
            raise TypeError(f"updates: the new value of {var.describe()} must be a node, "
                            f"got {type(node).__name__}")
        if node.shape != var.shape:
            raise ValueError(f"updates: {var.describe()} cannot take the value of "
                             f"{node.describe()}: shapes differ")
        if not np.can_cast(node.dtype, var.dtype, "same_kind"):
            raise TypeError(f"updates: {var.describe()} of dtype {var.dtype} cannot take "
                            f"values of dtype {node.dtype}")
    if len({id(v) for v, _ in pairs}) != len(pairs):
        raise ValueError("updates: a Variable is updated twice")
    return pairs
