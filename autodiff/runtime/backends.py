"""`ad.function` and the backends a graph can be compiled for.

numpy is the default and always there. Other backends live in `autodiff.backends` and are
imported only when asked for (``import autodiff`` never imports jax or dask); each needs
its extra (``pip install autodiff[jax]``).
"""
import importlib

from .function import Function

#: backend name -> the module defining its compiled-function class `Function`
BACKENDS = {"jax": "autodiff.backends.jax", "dask": "autodiff.backends.dask"}


def backend_function_class(backend):
    """The compiled-function class of `backend` ("numpy", "jax" or "dask")."""
    if backend == "numpy":
        return Function
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; backends: numpy, "
                         + ", ".join(sorted(BACKENDS)))
    try:
        module = importlib.import_module(BACKENDS[backend])
    except ImportError as err:
        raise ImportError(f"the {backend} backend needs {err.name or backend}: "
                          f"pip install 'autodiff[{backend}]'") from err
    return module.Function


def function(outputs, inputs=(), updates=None, backend="numpy", fast_math=False, **options):
    """Compile `outputs` into a callable taking values for `inputs` (Variables), in order.

    ``step = ad.function([loss, *grads], inputs=[xb, yb]); loss_value, *g = step(x, y)``.

    * Variables not listed in `inputs` are read at each call, so parameter changes are
      seen without compiling again.
    * ``updates={w: w - lr * gw, ...}`` assigns new values to Variables after each call,
      all computed from the values before it: forward pass, gradient and update in one
      call.
    * A value of another shape for an input (the last, smaller batch) compiles the graph
      once more for that shape, with its shape rules applied again; the result is kept.
    * It computes what was written, bit for bit as ``node()`` does; only derivative parts
      are simplified (see `ad.simplify`). ``fast_math=True`` lets the rewrites assume every
      value is finite and nonzero.
    * `backend`: "numpy" (default), "jax" (one XLA program; options `device`, `devices`,
      `shard`, `device_arrays`) or "dask" (chunked arrays).
    """
    cls = backend_function_class(backend)
    return cls(outputs, inputs, updates, fast_math=fast_math, **options)
