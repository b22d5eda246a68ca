"""The dask backend: a graph lowered to dask arrays, for data larger than memory.

``ad.function(outputs, inputs, backend="dask", chunks={x: 250_000})`` rewrites the graph as
the numpy backend does, then lowers every node with its op's `lower_dask` method to dask
array operations: elementwise ops run block by block, contractions and sums over a
chunked axis become tree reductions (only partial results travel, never the data), and
the derivatives of any order are ordinary graphs, lowered the same way.

* Inputs may be dask arrays (their chunks are kept) or numpy arrays, cut into chunks of
  ``chunks[input]`` rows along their first axis. Variables that are not inputs (the
  parameters) and constants are ordinary numpy arrays in the task graph.
* Each call computes every output in one ``dask.compute``: with the default threaded
  scheduler, or with the ``dask.distributed.Client`` the user made (``scheduler=`` to
  choose another). ``lazy=True`` returns dask arrays instead.
* The graph is lowered once when the function is made, on stand-ins of the inputs' shapes
  and chunks: an op that cannot run chunked that way is named then, not during a long
  computation.
* Tasks carry small kernels (ufuncs, or a copy of the op without its operands), so a
  cluster receives the arithmetic, not the graph around it.
"""
import itertools
import uuid

import numpy as np

import dask
import dask.array as da
from dask.array.core import elemwise, normalize_chunks

from ..core.node import Constant, Node, Variable
from ..core.traversal import topo_sort
from ..rewrite import rewrite_for_evaluation
from ..runtime.compiled import CompiledFunction
from ..runtime.function import read_only

#: How many partial results a tree reduction combines at each level.
SPLIT_EVERY = 8


class Lowering:
    """What an op's `lower_dask(lowering, *values)` receives: `da` (dask.array), `np`,
    `elemwise` (a kernel applied block by block, with broadcasting), `reduce` (tree
    reductions), `kernel(node)` (a small picklable copy of the op's numpy kernel), and
    `graph` for inner graphs."""

    da = da
    np = np
    elemwise = staticmethod(elemwise)  # a numpy kernel on broadcast blocks
    split_every = SPLIT_EVERY
    #: {size of a chunked axis: its chunks}, from the inputs, for axes an op creates
    batch_chunks = {}

    def reduce(self, name, x, axis, keepdims=False, dtype=None):
        """``x.<name>(axis, keepdims)`` (sum, mean, max, min, prod): a tree reduction on
        a dask array, numpy's on a numpy array."""
        kwargs = {} if dtype is None or name in ("max", "min") else {"dtype": dtype}
        if isinstance(x, da.Array):
            return getattr(da, name)(x, axis=axis, keepdims=keepdims,
                                     split_every=self.split_every, **kwargs)
        return getattr(np, name)(x, axis=axis, keepdims=keepdims, **kwargs)

    def chunks_for(self, shape):
        """Chunks for a new array of `shape`: an axis as long as an input's chunked axis
        is chunked like it, so that broadcasting a small value back never makes one
        chunk as large as the data."""
        return tuple(self.batch_chunks.get(d, d) for d in shape)

    @staticmethod
    def kernel(node):
        """`node`'s numpy forward on a copy of the op without its operands or marks, so
        that a task pickles the arithmetic, not the graph around it."""
        return _detached(node).forward

    @staticmethod
    def graph(outputs, inputs):
        """A function of dask values for `inputs` (leaf nodes) computing `outputs`."""
        return lower_graph(outputs, inputs)


LOWERING = Lowering()

_MARKS = ("children", "derivative_of", "derived_by", "gradient_of", "scope", "name")


def _detached(node):
    """A copy of `node` without operands or build marks (its parameters, shape, dtype and
    plan stay): what a task needs to run the op's numpy kernel."""
    clone = object.__new__(type(node))
    clone.__dict__.update({k: v for k, v in node.__dict__.items() if k not in _MARKS})
    clone.children = ()
    return clone


def lower_graph(outputs, inputs):
    """``run(*values) -> [output values]`` on dask (or numpy) values for `inputs`; other
    leaves become numpy constants. Raises naming an op that has no dask lowering."""
    order = topo_sort(outputs)
    given = [id(n) for n in inputs]
    steps = []
    for node in order:
        if id(node) in given or not node.children:
            if id(node) not in given and not isinstance(node, (Constant, Variable)):
                raise ValueError(f"dask backend: {node!r} is a leaf the program is not given")
            continue
        if type(node).lower_dask is Node.lower_dask and node.ufunc is None \
                and not node.elementwise:
            raise NotImplementedError(
                f"{type(node).__name__} has no dask lowering: give the op class a method "
                f"lower_dask(self, lowering, *values) returning the value from dask arrays "
                f"(lowering.da is dask.array)")
        steps.append((node, [id(c) for c in node.children]))
    leaves = [n for n in order if not n.children and id(n) not in given]

    def run(*values):
        env = dict(zip(given, values))
        for leaf in leaves:
            env[id(leaf)] = np.asarray(leaf.value)
        for node, children in steps:
            try:
                value = node.lower_dask(LOWERING, *[env[c] for c in children])
            except NotImplementedError as err:
                if type(node).__name__ in str(err):  # the op's own word: it names itself
                    raise
                raise NotImplementedError(  # dask's refusal (a reshape across chunks, ...)
                    f"dask backend: {node!r} cannot run on operands chunked "
                    f"{[getattr(env[c], 'chunks', None) for c in children]}: {err}") from err
            except Exception as err:
                raise ValueError(f"dask backend: {node!r} cannot run on operands chunked "
                                 f"{[getattr(env[c], 'chunks', None) for c in children]}: "
                                 f"{err}") from err
            if value.dtype != node.dtype:
                value = value.astype(node.dtype)
            env[id(node)] = value
        return [env[id(o)] for o in outputs]
    return run


class Function(CompiledFunction):
    """A graph lowered to dask arrays (see the module docstring).

    Options: `chunks` (rows per chunk, for all numpy inputs as an int, or per input as a
    dict), `scheduler` (dask's scheduler argument), `lazy` (return dask arrays),
    `fast_math` (as for ``ad.function``).
    """

    def __init__(self, outputs, inputs=(), updates=None, fast_math=False, chunks=None,
                 scheduler=None, lazy=False):
        super().__init__(outputs, inputs, updates, fast_math=fast_math, chunks=chunks,
                         scheduler=scheduler, lazy=lazy)

    def _compile(self, nodes):
        graph = rewrite_for_evaluation(nodes, self._options["fast_math"])
        self._program = lower_graph(graph, self.inputs)
        stand_ins = [da.zeros(v.shape, dtype=v.dtype, chunks=self._chunks_of(v))
                     for v in self.inputs]
        self._lower(stand_ins)  # lowered once on stand-ins: refusals come now

    def _lower(self, arrays):
        """The outputs as dask arrays, with the chunking of the inputs' chunked axes known
        to the ops that create axes."""
        LOWERING.batch_chunks = {sum(c): c for a in arrays if isinstance(a, da.Array)
                                 for c in a.chunks if len(c) > 1}
        try:
            return self._program(*arrays)
        finally:
            LOWERING.batch_chunks = {}

    def _chunks_of(self, var, value=None):
        """Chunks for an input: a dask array's own; else `chunks` (for every input, or per
        input in a dict): a number is rows along the first axis, anything else is dask's
        own chunks argument (a tuple per axis, ``{axis: size}``, "auto")."""
        if isinstance(value, da.Array):
            return value.chunks
        chunks = self._options["chunks"]
        if isinstance(chunks, dict) and any(isinstance(k, Node) for k in chunks):
            chunks = next((c for v, c in chunks.items() if v is var), None)
        if chunks is None or not var.ndim:
            return var.shape or ()
        if isinstance(chunks, (int, np.integer)):
            return (int(chunks),) + var.shape[1:]
        try:
            return normalize_chunks(chunks, var.shape, dtype=var.dtype)
        except ValueError as err:
            raise ValueError(f"dask backend: chunks {chunks!r} do not fit input "
                             f"{var.describe()}: {err}") from err

    def _run(self, values):
        arrays = []
        for var, value in zip(self.inputs, values):
            if isinstance(value, da.Array):
                arrays.append(value.astype(var.dtype))
            else:
                value = np.asarray(value, dtype=var.dtype)
                arrays.append(blocks_of(value, self._chunks_of(var, value)))
        results = self._lower(arrays)
        if self._options["lazy"]:
            return results
        kwargs = {} if self._options["scheduler"] is None else \
            {"scheduler": self._options["scheduler"]}
        return [np.asarray(r) for r in dask.compute(*results, **kwargs)]



def blocks_of(array, chunks):
    """A dask array whose blocks are read-only views of `array`'s parts: no copy of the
    data (`da.from_array` copies the whole array first, which costs more than a gradient
    pass over it), and no kernel can write into the caller's array."""
    chunks = normalize_chunks(chunks, array.shape, dtype=array.dtype)
    array = read_only(array)
    name = f"input-{uuid.uuid4().hex}"
    bounds = [np.cumsum((0,) + c) for c in chunks]
    graph = {}
    for index in itertools.product(*(range(len(c)) for c in chunks)):
        where = tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, index))
        graph[(name,) + index] = array[where] if where else array
    return da.Array(graph, name, chunks, dtype=array.dtype)
