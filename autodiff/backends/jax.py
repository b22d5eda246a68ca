"""The jax backend: a graph lowered to one XLA program, compiled once per input shape.

``ad.function(outputs, inputs, backend="jax")`` rewrites the graph as the numpy backend
does, then lowers every node with its op's `lower_jax` method (a function of `jax.numpy`
values; elementwise ops with a numpy `ufunc` lower to the `jax.numpy` function of the same
name) into one Python function, which `jax.jit` traces and XLA compiles ahead of time.

* Inputs, Variables and large constants are arguments of the program, read at each call:
  changing a parameter never recompiles. An input of a new shape compiles once more (the
  graph rebuilt for it, see runtime/compiled.py), and that program is kept.
* Variables given ``updates`` live on the device between calls: their buffers are
  donated to the program, which writes their new values in place; reading
  ``variable.value`` copies the current value back, and setting it sends the new one at
  the next call.
* float64 stays float64 and float32 stays float32: everything runs inside
  ``jax.enable_x64(True)``, a context local to the thread, so JAX's global configuration
  is never changed. Results come back as numpy arrays (``device_arrays=True`` for jax
  arrays). Input values may be numpy arrays or jax arrays; jax arrays of the input's
  dtype are used where they are, without a copy through the host.
* ``device=`` picks a device (a jax Device, or "cpu", "gpu", "cpu:1"). ``devices=[...]``
  with ``shard={input: axis}`` runs data-parallel: the listed inputs are split along their
  axis across the devices, everything else is replicated, and XLA adds the cross-device
  sums (values agree with one device up to the order of those sums).

XLA on CPU flushes subnormal numbers to zero (below 2.2e-308 in float64), where numpy
keeps them.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..core.node import Constant, Node, Variable
from ..core.traversal import topo_sort
from ..rewrite import rewrite_for_evaluation
from ..runtime.compiled import CompiledFunction

#: Constants larger than this (elements) are program arguments, not literals in the code.
LARGE_CONSTANT = 4096


class Lowering:
    """What an op's `lower_jax(lowering, *values)` receives: `jnp`, `lax`, `jax`, `graph`
    to lower an inner graph (a checkpoint's) to a function of its inputs, the two building
    blocks every sum and contraction should use, `sum` and `dot_general` (they pick the
    forms XLA runs fast, see their docstrings), and `remember`/`recall`: values one op's
    lowering leaves for another's in the same program (a loop's per-step values for the
    loop of its gradient).

    One Lowering serves one graph as it is traced; an inner graph's (`graph`) recalls what
    the outer one remembered, but what it remembers stays inside it (its values live in
    its own trace)."""

    jnp = jnp
    lax = lax
    jax = jax

    def __init__(self, outer=None):
        self.outer = outer
        self.memory = {}

    def graph(self, outputs, inputs):
        """A function of jax values for `inputs` (leaf nodes) computing `outputs`."""
        return lower_graph(outputs, inputs, outer=self)

    def remember(self, key, value):
        """Leave `value` (a jax value of this graph) under `key` for later lowerings."""
        self.memory[key] = value

    def recall(self, key):
        """The value remembered under `key` here or in an enclosing graph, or None."""
        lowering = self
        while lowering is not None:
            if key in lowering.memory:
                return lowering.memory[key]
            lowering = lowering.outer
        return None

    @staticmethod
    def sum(x, axes, dtype=None, keepdims=False):
        """numpy's ``x.sum(axis=axes, dtype=dtype, keepdims=keepdims)``.

        XLA on CPU reduces floats one element after another (it may not reorder the
        additions), 3-30x slower than numpy. A float sum over leading or trailing axes is
        a product with a vector of ones instead, which runs as a vectorised BLAS-style
        kernel: ``ones @ x`` or ``x @ ones`` (the rounding of a dot, not numpy's
        pairwise sum: within a few ulp per element summed)."""
        return lower_sum(x, axes, dtype, keepdims)

    @staticmethod
    def dot_general(a, b, contracting, batch=((), ()), dtype=None):
        """``lax.dot_general(a, b, (contracting, batch))`` in float64/float32 at full
        precision, with the output in `dtype`.

        XLA's CPU matrix product is 2.5-4x slower than numpy's when the left operand
        contracts on its leading axes (a weight gradient ``x.T @ g``): then that operand
        is transposed first, in memory (an optimization barrier keeps XLA from folding
        the transpose back into the product)."""
        return lower_dot_general(a, b, contracting, batch, dtype)


def lower_sum(x, axes, dtype=None, keepdims=False):
    """See `Lowering.sum`."""
    axes = tuple(sorted({a % x.ndim for a in axes})) if x.ndim else ()
    dtype = np.dtype(dtype or x.dtype)
    shape = x.shape
    kept_shape = tuple(1 if i in axes else d for i, d in enumerate(shape))
    if dtype.kind not in "fc" or x.size == 0 or not axes:
        return jnp.sum(x, axis=axes, dtype=dtype, keepdims=keepdims)
    x = x.astype(dtype)
    n, k = x.ndim, len(axes)
    if axes == tuple(range(n)):
        result = _sum_all(x)
    elif axes == tuple(range(k)):               # leading axes: ones @ x
        rows = int(np.prod(shape[:k]))
        result = _dot(jnp.ones(rows, dtype), x.reshape(rows, -1)).reshape(shape[k:])
    elif axes == tuple(range(n - k, n)):        # trailing axes: x @ ones
        cols = int(np.prod(shape[n - k:]))
        result = _dot(x.reshape(-1, cols), jnp.ones(cols, dtype)).reshape(shape[:n - k])
    else:
        result = jnp.sum(x, axis=axes, dtype=dtype)
    return result.reshape(kept_shape) if keepdims else result


#: Below this many elements, summing a vector with XLA's own reduction is as fast.
SHORT_SUM = 512
#: A long vector is summed as rows of this many elements (then the row of partial sums).
SUM_ROW = 64


def _sum_all(x):
    """Every element of a float array summed, through dots with ones (see Lowering.sum)."""
    if x.ndim > 1:
        rows = int(np.prod(x.shape[:-1]))
        x = _dot(jnp.ones(rows, x.dtype), x.reshape(rows, x.shape[-1]))
    if x.size < SHORT_SUM:
        return jnp.sum(x)
    whole = x.size - x.size % SUM_ROW
    partial = _dot(jnp.ones(whole // SUM_ROW, x.dtype), x[:whole].reshape(-1, SUM_ROW))
    total = jnp.sum(partial)
    return total + jnp.sum(x[whole:]) if whole < x.size else total


def _dot(a, b):
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST, preferred_element_type=a.dtype)


#: A batched product of matrices smaller than this (elements of the left one) keeps its
#: transposed layout: XLA's batched kernel handles it better than a copy first.
SMALL_BATCHED_MATRIX = 128 * 128


def lower_dot_general(a, b, contracting, batch=((), ()), dtype=None):
    """See `Lowering.dot_general`."""
    (a_con, b_con), (a_batch, b_batch) = contracting, batch
    a_con, b_con, a_batch, b_batch = map(tuple, (a_con, b_con, a_batch, b_batch))
    a_free = [i for i in range(a.ndim) if i not in a_con and i not in a_batch]
    contracted_size = int(np.prod([a.shape[i] for i in a_con]))
    matrix_size = int(np.prod([a.shape[i] for i in a_con + tuple(a_free)]))
    if a_con and a_free and max(a_con) < min(a_free) and contracted_size > 1 \
            and (not a_batch or matrix_size >= SMALL_BATCHED_MATRIX):
        # contracted axes before the free ones: lay the operand out as (batch, free,
        # contracted) in memory first
        order = a_batch + tuple(a_free) + a_con
        a = lax.optimization_barrier(jnp.transpose(a, order))
        nb, nf = len(a_batch), len(a_free)
        a_batch = tuple(range(nb))
        a_con = tuple(range(nb + nf, a.ndim))
    return lax.dot_general(a, b, ((a_con, b_con), (a_batch, b_batch)),
                           precision=lax.Precision.HIGHEST,
                           preferred_element_type=dtype or jnp.result_type(a, b))


def lower_graph(outputs, inputs, arguments=(), outer=None):
    """A function ``run(*values) -> [output values]`` of jax values for `inputs` then
    `arguments` (more leaves given at call time), computing `outputs`; other Constants
    become literals. Raises NotImplementedError naming an op without a jax lowering.
    `outer`: the Lowering of the graph this one is inside, if any."""
    order = topo_sort(outputs)
    given = [id(n) for n in list(inputs) + list(arguments)]
    plan = []  # (node, child ids) for the ops, in order; checked before any tracing
    for node in order:
        if id(node) in given:
            continue
        if not node.children:
            if not isinstance(node, Constant):
                raise ValueError(f"jax backend: {node!r} is a leaf the program is not given "
                                 f"(list it in inputs)")
            continue
        if type(node).lower_jax is Node.lower_jax and node.ufunc is None:
            raise NotImplementedError(
                f"{type(node).__name__} has no jax lowering: give the op class a method "
                f"lower_jax(self, lowering, *values) returning the value from jax arrays "
                f"(lowering.jnp is jax.numpy); see the README, 'Adding an op'")
        plan.append((node, [id(c) for c in node.children]))
    literals = [(id(n), n) for n in order if isinstance(n, Constant) and id(n) not in given]

    def run(*values):
        lowering = Lowering(outer)  # one per trace: what it remembers lives in this trace
        env = dict(zip(given, values))
        for key, constant in literals:
            env[key] = jnp.asarray(constant.value)
        for node, children in plan:
            value = node.lower_jax(lowering, *[env[c] for c in children])
            if value.dtype != node.dtype:  # jax's promotion can differ for mixed operands
                value = value.astype(node.dtype)
            env[id(node)] = value
        return [env[id(o)] for o in outputs]
    return run


def resolve_device(device):
    """A jax Device from a Device, "cpu", "gpu" or "cpu:1" (platform and index)."""
    if device is None or not isinstance(device, str):
        return device
    platform, _, index = device.partition(":")
    try:
        return jax.devices(platform)[int(index or 0)]
    except (RuntimeError, IndexError) as err:
        raise ValueError(f"jax backend: no device {device!r} ({err})") from None


class Function(CompiledFunction):
    """A graph compiled to one XLA program (see the module docstring).

    Options: `device`, `devices` and `shard` (placement), `device_arrays` (return jax
    arrays), `fast_math` (as for ``ad.function``).
    """

    def __init__(self, outputs, inputs=(), updates=None, fast_math=False, device=None,
                 devices=None, shard=None, device_arrays=False):
        super().__init__(outputs, inputs, updates, fast_math=fast_math, device=device,
                         devices=devices, shard=shard, device_arrays=device_arrays)

    # --- compiling -----------------------------------------------------------------------
    def _compile(self, nodes):
        options = self._options
        self.nodes_as_given = topo_sort(nodes)
        graph = rewrite_for_evaluation(nodes, options["fast_math"])
        order = topo_sort(graph)
        updated = [var for var, _ in self.updates]
        inputs = set(map(id, self.inputs))
        leaves = [n for n in order if not n.children]
        self.state_vars = updated  # donated: their new values are outputs
        self.param_vars = [n for n in leaves if isinstance(n, Variable)
                           and id(n) not in inputs and all(n is not v for v in updated)]
        self.large_constants = [n for n in leaves if isinstance(n, Constant)
                                and n.size > LARGE_CONSTANT]
        # a Variable both read and updated appears in the state only
        run = lower_graph(graph, self.inputs, self.state_vars + self.param_vars
                          + self.large_constants)

        def program(inputs, state, params, constants):
            return tuple(run(*inputs, *state, *params, *constants))

        self._place(options)
        abstract = self._abstract_arguments()
        start = time.perf_counter()
        with jax.enable_x64(True):
            jitted = jax.jit(program, donate_argnums=(1,), keep_unused=True,
                             in_shardings=self._in_shardings, out_shardings=self._out_sharding)
            self._program = jitted.lower(*abstract).compile()
        self.compile_seconds = time.perf_counter() - start
        self._device_state = None  # the updated Variables' current values, on the device
        self._constants = None
        self._version = 0

    def _place(self, options):
        """Shardings for the program's arguments and results."""
        devices = options["devices"]
        shard = options["shard"] or {}
        if devices is None:
            device = resolve_device(options["device"]) or jax.devices()[0]
            devices = [device]
        elif options["device"] is not None:
            raise ValueError("jax backend: give either device= or devices=, not both")
        devices = [resolve_device(d) for d in devices]
        for var, axis in shard.items():
            if all(var is not v for v in self.inputs):
                raise ValueError(f"jax backend: shard names {var!r}, which is not an input")
            if not 0 <= axis < var.ndim or var.shape[axis] % len(devices):
                raise ValueError(f"jax backend: cannot split {var.describe()} along axis "
                                 f"{axis} across {len(devices)} devices")
        self._mesh = Mesh(np.array(devices), ("data",))
        replicated = NamedSharding(self._mesh, PartitionSpec())

        def split(var):
            axis = next((a for v, a in shard.items() if v is var), None)
            if axis is None:
                return replicated
            spec = [None] * var.ndim
            spec[axis] = "data"
            return NamedSharding(self._mesh, PartitionSpec(*spec))

        self._input_shardings = [split(v) for v in self.inputs]
        self._replicated = replicated
        self._in_shardings = (tuple(self._input_shardings),
                              tuple(replicated for _ in self.state_vars),
                              tuple(replicated for _ in self.param_vars),
                              tuple(replicated for _ in self.large_constants))
        self._out_sharding = replicated

    def _abstract_arguments(self):
        def spec(node):
            return jax.ShapeDtypeStruct(node.shape, node.dtype)
        return (tuple(spec(v) for v in self.inputs), tuple(spec(v) for v in self.state_vars),
                tuple(spec(v) for v in self.param_vars),
                tuple(spec(c) for c in self.large_constants))

    # --- running -------------------------------------------------------------------------
    def _run(self, values):
        with jax.enable_x64(True):
            arguments = self._arguments(values, self.param_vars, self.large_constants)
            results = self._program(*arguments)
        n = len(self.requested)
        outputs, new_state = list(results[:n]), list(results[n:])
        self._take_state(new_state)
        if self._options["device_arrays"]:
            return outputs + new_state
        return [np.array(o) for o in outputs] + new_state

    def _arguments(self, values, params, constants):
        # numpy values go to the program as they are: the compiled executable copies them
        # to the device itself, an order of magnitude faster than jax.device_put in Python
        inputs = tuple(_argument(v, var.dtype, s)
                       for v, var, s in zip(values, self.inputs, self._input_shardings))
        state = tuple(self._current_state())
        params = tuple(p.value for p in params)
        if self._constants is None:
            self._constants = tuple(jax.device_put(c.value, self._replicated)
                                    for c in constants)
        return inputs, state, params, self._constants

    def _current_state(self):
        """Device values of the updated Variables: kept from the last call, or sent."""
        current = []
        for k, var in enumerate(self.state_vars):
            if var._holder is self and self._device_state is not None:
                current.append(self._device_state[k])
            else:
                current.append(jax.device_put(np.asarray(var.value, dtype=var.dtype),
                                              self._replicated))
        return current

    def _take_state(self, new_state):
        self._device_state = new_state
        self._version += 1

    def _assign(self, variable, value):
        # the value stays on the device; the Variable reads it back when asked (`sync`)
        variable._holder = self
        variable._synced_version = None

    def sync(self, variable):
        """Copy `variable`'s current value from the device (once per call)."""
        if getattr(variable, "_synced_version", None) == self._version:
            return
        k = next(i for i, v in enumerate(self.state_vars) if v is variable)
        with jax.enable_x64(True):
            variable._value = np.array(self._device_state[k])
        variable._synced_version = self._version

    def rebind(self, nodes, values):
        """Run on another graph of the same structure (`nodes`: its topological order):
        its Variables' values are read instead of this graph's (see ad.evaluate)."""
        position = {id(n): i for i, n in enumerate(self.nodes_as_given)}
        params = [nodes[position[id(p)]] for p in self.param_vars]
        constants = [nodes[position[id(c)]] for c in self.large_constants]
        with jax.enable_x64(True):
            arguments = self._arguments(values, params, constants)
            arguments = arguments[:3] + (tuple(jax.device_put(c.value, self._replicated)
                                               for c in constants),)
            results = self._program(*arguments)
        return [np.array(o) for o in results[:len(self.requested)]]


def _argument(value, dtype, sharding):
    """An input value as the program takes it: a jax array of the input's dtype placed as
    the program wants it stays where it is; one placed elsewhere is moved; anything else
    becomes a numpy array of the dtype."""
    if isinstance(value, jax.Array) and value.dtype == dtype:
        if value.sharding.is_equivalent_to(sharding, value.ndim):
            return value
        return jax.device_put(value, sharding)
    return np.asarray(value, dtype=dtype)

