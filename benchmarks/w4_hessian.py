"""W4: the full Hessian of f(x) = sum(tanh(A @ x)) + 0.5 * sum(x**2), A fixed 100x100.

A is a fixed-seed standard normal matrix scaled by 1/sqrt(100) (so that A @ x is O(1) and
tanh is not saturated); x a fixed standard normal vector; float64. One timed unit = the
100x100 Hessian at x (the median over `steps` calls per round, `rounds` rounds,
interleaved); the first call of each system is measured once, separately, when the system
is created (before anything else of this workload ran).

Systems:

* numpy_by_hand: the closed form ``A^T diag(f''(Ax)) A + I`` with
  ``f''(z) = -2 tanh(z) (1 - tanh(z)^2)``: the floor.
* autodiff: ``H = ad.hessian(f, x)`` (a vectorised Jacobian of the gradient), then
  ``F = ad.function(H)``; a call is ``F()``. A is an ``ad.Constant`` (fixed, as JAX's
  closure constant is). Build (graph), compile (``ad.function``) and first call are
  reported separately.
* autodiff dynamic: the graph built anew on every call (``ad.hessian`` of a freshly built
  f, then ``ad.evaluate``), eager style; its plan is found by structure after the first
  call, so a call costs building the Hessian graph, finding its plan and running it.
* autodiff jax: the same graph with ``ad.function(H, backend="jax")``.
* jax: ``jax.jit(jax.hessian(f))`` (forward-over-reverse); first call = trace + XLA
  compile + run.
* torch: ``torch.autograd.functional.hessian(f, x, vectorize=True)``.
* autograd: ``autograd.hessian(f)`` (a Jacobian of the gradient, row by row).
"""
import time

import numpy as np

from harness import System, Workload, import_peer, jax_backend_note, peer_note, REFERENCE

N = 100


def make_problem(seed=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, N)) / np.sqrt(N), rng.standard_normal(N)


def _f_numpy(A, x):
    return float(np.sum(np.tanh(A @ x)) + 0.5 * np.sum(x * x))


def numpy_by_hand(A, x):
    eye = np.eye(N)

    def hessian():
        t = np.tanh(A @ x)
        fpp = -2.0 * t * (1.0 - t * t)
        return A.T @ (fpp[:, None] * A) + eye

    return System(REFERENCE, hessian, lambda: {"loss": _f_numpy(A, x), "H": hessian()})


def autodiff_system(A, x0, first):
    import autodiff as ad
    t0 = time.perf_counter()
    x = ad.Variable(x0.copy(), name="x")
    f = ad.sum(ad.tanh(ad.Constant(A) @ x)) + 0.5 * ad.sum(x ** 2)
    H = ad.hessian(f, x)
    t1 = time.perf_counter()
    F = ad.function(H)
    t2 = time.perf_counter()
    F()
    t3 = time.perf_counter()
    first["autodiff"] = {"build_ms": (t1 - t0) * 1e3, "compile_ms": (t2 - t1) * 1e3,
                         "first_call_ms": (t3 - t2) * 1e3, "size": ad.graph_size(H)}
    return System("autodiff", F, lambda: {"loss": float(ad.evaluate(f)), "H": F()})


def autodiff_dynamic(A, x0):
    import autodiff as ad
    x = ad.Variable(x0.copy(), name="x")

    def call():
        f = ad.sum(ad.tanh(ad.Constant(A) @ x)) + 0.5 * ad.sum(x ** 2)
        return ad.evaluate(ad.hessian(f, x))

    return System("autodiff dynamic", call, lambda: {"loss": _f_numpy(A, x.value), "H": call()})


def autodiff_jax(A, x0, first):
    """The same Hessian graph as autodiff's, compiled with ``backend="jax"``: one XLA
    program; build, compile (of it XLA's lowering and compilation) and first call apart."""
    import autodiff as ad
    import jax
    jax.jit(lambda v: v + 1.0)(np.ones(2)).block_until_ready()  # backend start-up, as for jax
    t0 = time.perf_counter()
    x = ad.Variable(x0.copy(), name="x")
    f = ad.sum(ad.tanh(ad.Constant(A) @ x)) + 0.5 * ad.sum(x ** 2)
    H = ad.hessian(f, x)
    t1 = time.perf_counter()
    F = ad.function(H, backend="jax")
    t2 = time.perf_counter()
    F()
    t3 = time.perf_counter()
    first["autodiff jax"] = {"build_ms": (t1 - t0) * 1e3, "compile_ms": (t2 - t1) * 1e3,
                             "xla_ms": F.compile_seconds * 1e3,
                             "first_call_ms": (t3 - t2) * 1e3, "size": ad.graph_size(H)}
    system = System("autodiff jax", F, lambda: {"loss": float(ad.evaluate(f)), "H": F()})
    system.compile = {"seconds": t2 - t1, "xla_seconds": F.compile_seconds}
    return system


def jax_system(A, x0, first):
    jax = import_peer("jax")
    import jax.numpy as jnp
    Aj, x = jnp.asarray(A), jnp.asarray(x0)

    def f(x):
        return jnp.sum(jnp.tanh(Aj @ x)) + 0.5 * jnp.sum(x ** 2)

    jax.jit(lambda v: v + 1.0)(x).block_until_ready()  # backend start-up is not W4's cost
    t0 = time.perf_counter()
    hess = jax.jit(jax.hessian(f))
    hess(x).block_until_ready()
    t1 = time.perf_counter()
    first["jax (jit)"] = {"first_call_ms": (t1 - t0) * 1e3,
                          "what": "trace + compile + run",
                          "size": len(jax.make_jaxpr(jax.hessian(f))(x).jaxpr.eqns)}

    def step():
        return hess(x).block_until_ready()

    return System("jax (jit)", step, lambda: {"loss": float(f(x)), "H": np.asarray(step())})


def torch_system(A, x0, first):
    torch = import_peer("torch")
    from torch.autograd.functional import hessian
    At = torch.tensor(A, dtype=torch.float64)
    x = torch.tensor(x0, dtype=torch.float64)

    def f(x):
        return torch.sum(torch.tanh(At @ x)) + 0.5 * torch.sum(x ** 2)

    def step():
        return hessian(f, x, vectorize=True)

    t0 = time.perf_counter()
    step()
    first["torch"] = {"first_call_ms": (time.perf_counter() - t0) * 1e3,
                      "what": "hessian(vectorize=True)"}
    return System("torch", step, lambda: {"loss": float(f(x)), "H": step().numpy()})


def autograd_system(A, x0, first):
    import_peer("autograd")
    import autograd.numpy as anp
    from autograd import hessian

    def f(x):
        return anp.sum(anp.tanh(anp.dot(A, x))) + 0.5 * anp.sum(x ** 2)

    hess = hessian(f)
    t0 = time.perf_counter()
    hess(x0)
    first["autograd"] = {"first_call_ms": (time.perf_counter() - t0) * 1e3}
    return System("autograd", lambda: hess(x0),
                  lambda: {"loss": float(f(x0)), "H": np.asarray(hess(x0))})


def _first_call_lines(first):
    lines = ["  first call (measured once, when the system was created; ms):"]
    for name, rec in first.items():
        if "build_ms" in rec:
            total = rec["build_ms"] + rec["compile_ms"] + rec["first_call_ms"]
            xla = f" (XLA {rec['xla_ms']:.1f})" if "xla_ms" in rec else ""
            lines.append(f"    {name:<12} build (ad.hessian) {rec['build_ms']:.1f}, compile "
                         f"(ad.function) {rec['compile_ms']:.1f}{xla}, first call "
                         f"{rec['first_call_ms']:.2f}: total {total:.1f}; Hessian graph "
                         f"{rec['size']} nodes")
        else:
            what = f" ({rec['what']})" if "what" in rec else ""
            size = f"; jaxpr {rec['size']} equations" if "size" in rec else ""
            lines.append(f"    {name:<12} first call{what} {rec['first_call_ms']:.1f}{size}")
    return lines


def build(quick=False, skip=()):
    A, x = make_problem()
    first = {}
    systems, notes = [numpy_by_hand(A, x)], []
    if "autodiff" not in skip:
        systems.append(autodiff_system(A, x, first))
    if "autodiff dynamic" not in skip:
        systems.append(autodiff_dynamic(A, x))
    if "autodiff jax" not in skip:
        note = jax_backend_note()
        if note:
            notes.append(note)
        else:
            systems.append(autodiff_jax(A, x, first))
    for peer, make in (("jax", jax_system), ("torch", torch_system),
                       ("autograd", autograd_system)):
        if import_peer(peer) is None:
            notes.append(peer_note(peer))
        else:
            systems.append(make(A, x, first))
    wl = Workload("W4", "full 100x100 Hessian of sum(tanh(A@x)) + 0.5*sum(x**2)", systems,
                  steps=5, warmup=1 if quick else 2, check_steps=0, notes=notes, unit="call")
    wl.extra_lines = _first_call_lines(first)
    wl.data = {"first_call": first}
    return wl
