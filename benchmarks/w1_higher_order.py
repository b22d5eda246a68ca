"""W1 and W1b: the n-th derivative (n = 1..10) of an elementwise function on 1000 points.

W1: f(x) = tanh(x), W1b: f(x) = sin(sin(sin(x))), x = linspace(-7, 7, 1000), float64. For
every order n and every system: build the derivative, evaluate it twice, report the build
seconds, the first and second evaluation, the median of repeated evaluations (the number
the ratio uses) and the size of what was built.

Systems ("ways"):

* numpy_by_hand. W1: the closed form d^n tanh = P_n(tanh x), P_0(t) = t,
  P_{n+1}(t) = P_n'(t) (1 - t^2); building is computing P_n's integer coefficients
  (numpy.polynomial), evaluating is tanh and Horner's rule in t^2 (P_n has the parity of
  n + 1, so P_n(t) = t^p Q(t^2)); its size is the number of coefficients of Q. W1b has no
  closed form: the floor is Taylor-mode arithmetic written out (the Taylor coefficients
  of sin(u(x + e)) from those of u by the recurrences s_k = (1/k) sum_j j u_j c_{k-j},
  c_k = -(1/k) sum_j j u_j s_{k-j}, three times; d^n f = n! * coefficient n), size "-".
* autodiff derivative: ``ad.derivative(f(x), x, n)``, evaluated with ``ad.evaluate``
  (the first call plans, the second reuses the plan).
* autodiff nested grad: ``d = ad.simplify(ad.grad(ad.sum(d), [x])[0])`` n times.
* autodiff nested grad (raw): the same without ``ad.simplify``, evaluated with
  ``ad.evaluate(d, simplify=False)``: the size nesting gives before any rewriting.
* autodiff jax: ``ad.derivative`` as above, compiled with ``ad.function(d, backend="jax")``
  at the first evaluation (which therefore includes it, as jax's includes XLA's compile).
* torch: ``torch.autograd.grad(d.sum(), x, create_graph=True)`` n times. Eager: building
  computes the values, and evaluating at a new x means running it all again, so the eval
  columns time a complete re-run. Size: the distinct autograd nodes reachable through
  ``grad_fn.next_functions`` from the result.
* jax: ``jax.grad(lambda x: jnp.sum(g(x)))`` nested n times; build = tracing it under
  ``jax.jit`` (``jit(f).trace(x)``), size = the jaxpr's equations (sub-jaxprs counted),
  first evaluation = lowering, XLA compilation and the first call, second = a call.
* autograd (HIPS): ``elementwise_grad`` n times; nothing to build, every call traces.

Protocol. Round 0 is the check round: every cell (system, n) is built and evaluated, its
values are compared with numpy_by_hand's (max |a-b| / max |b|, tolerance --tol), and its
cost is measured. A cell whose build + first evaluation takes over REPEAT_CAP seconds is
not rebuilt later: its build and evaluation times are those of round 0 ("once" in the
table), and only its (cheap) evaluations are repeated. Orders whose cost, extrapolated
from the two previous orders, exceeds --cell-cap are left out for that system (noted).
Then ``--rounds`` rounds: order by order, systems take turns (the starting system
rotated each round), each rebuilding and re-evaluating. Every time reported is the
median over rounds, with the spread of the per-round values; the ratio is the per-round
evaluation median divided by numpy_by_hand's in the same round, the median over rounds.

W1b also checks each autodiff derivative against a 4-point central difference of its own
(n-1)-th derivative, and prints how far each peer is from autodiff.
"""
import gc
import math
import statistics
import sys
import time
import warnings

import numpy as np

from harness import (CustomWorkload, import_peer, jax_backend_note, peer_note, REFERENCE,
                     rel_err)

X0 = np.linspace(-7.0, 7.0, 1000)
ORDERS = tuple(range(1, 11))
QUICK_ORDERS = (1, 2, 3, 4, 5, 6)
FD_STEP, FD_TOL = 1e-3, 1e-6

FUNCTIONS = {"W1": "tanh(x)", "W1b": "sin(sin(sin(x)))"}


def _apply(kind, mod, x):
    """f(x) with the module's own tanh / sin (autodiff, torch, jax.numpy, autograd.numpy)."""
    if kind == "W1":
        return mod.tanh(x)
    return mod.sin(mod.sin(mod.sin(x)))


# --- numpy by hand ---------------------------------------------------------------------

def tanh_polynomial(n):
    """Ascending coefficients of P_n with d^n tanh(x) = P_n(tanh x) (integers, exact)."""
    P = np.polynomial.Polynomial([0.0, 1.0])
    one_minus_t2 = np.polynomial.Polynomial([1.0, 0.0, -1.0])
    for _ in range(n):
        P = P.deriv() * one_minus_t2
    return P.coef


class TanhClosedForm:
    name = REFERENCE
    label = "closed form P_n(tanh x), Horner"

    def build(self, n):
        c = tanh_polynomial(n)
        parity = (n + 1) % 2
        if np.any(c[1 - parity::2] != 0):
            raise AssertionError(f"P_{n} does not have the parity of n + 1")
        return c[parity::2].copy(), parity

    def evaluate(self, handle):
        q, parity = handle
        t = np.tanh(X0)
        r = np.polynomial.polynomial.polyval(t * t, q)  # Horner's rule
        return r * t if parity else r

    def size(self, handle):
        return len(handle[0])


def sin3_taylor(x, n):
    """d^n/dx^n sin(sin(sin(x))) by Taylor-mode arithmetic (see the module docstring)."""
    u = np.zeros((n + 1,) + x.shape)
    u[0] = x
    if n:
        u[1] = 1.0
    k_idx = np.arange(n + 1, dtype=np.float64)[:, None]
    for _ in range(3):
        ju = k_idx * u                  # j * u_j
        s = np.empty_like(u)
        c = np.empty_like(u)
        s[0], c[0] = np.sin(u[0]), np.cos(u[0])
        for k in range(1, n + 1):
            w = ju[1:k + 1]             # j = 1..k
            s[k] = np.einsum("jx,jx->x", w, c[k - 1::-1]) / k
            c[k] = -np.einsum("jx,jx->x", w, s[k - 1::-1]) / k
        u = s
    return u[n] * math.factorial(n)


class Sin3Taylor:
    name = REFERENCE
    label = "Taylor-mode arithmetic in numpy"

    def build(self, n):
        return n

    def evaluate(self, n):
        return sin3_taylor(X0, n)

    def size(self, n):
        return None


# --- autodiff ----------------------------------------------------------------------------

class AutodiffDerivative:
    name = "autodiff derivative"
    label = "ad.derivative(y, x, n); ad.evaluate"

    def __init__(self, kind):
        import autodiff as ad
        self.ad, self.kind = ad, kind

    def build(self, n):
        ad = self.ad
        x = ad.Variable(X0.copy(), name="x")
        return ad.derivative(_apply(self.kind, ad, x), x, n)

    def evaluate(self, d):
        return self.ad.evaluate(d)

    def size(self, d):
        return self.ad.graph_size(d)


class AutodiffNested(AutodiffDerivative):
    name = "autodiff nested grad"
    label = "ad.simplify(ad.grad(ad.sum(d), [x])[0]), n times"
    simplify = True

    def build(self, n):
        ad = self.ad
        x = ad.Variable(X0.copy(), name="x")
        d = _apply(self.kind, ad, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the raw graph's size warning
            for _ in range(n):
                d = ad.grad(ad.sum(d), [x])[0]
                if self.simplify:
                    d = ad.simplify(d)
        return d

    def evaluate(self, d):
        return self.ad.evaluate(d, simplify="auto" if self.simplify else False)


class AutodiffNestedRaw(AutodiffNested):
    name = "autodiff nested grad (raw)"
    label = "ad.grad(ad.sum(d), [x])[0], n times, no simplify; evaluate(simplify=False)"
    simplify = False


class AutodiffJax(AutodiffDerivative):
    name = "autodiff jax"
    label = "ad.derivative(y, x, n); ad.function(d, backend='jax')"

    def build(self, n):
        return {"graph": super().build(n), "function": None}

    def evaluate(self, handle):
        if handle["function"] is None:  # the first evaluation compiles, as jax's does
            t0 = time.perf_counter()
            handle["function"] = self.ad.function(handle["graph"], backend="jax")
            handle["compile"] = {"seconds": time.perf_counter() - t0,
                                 "xla_seconds": handle["function"].compile_seconds}
        return handle["function"]()

    def size(self, handle):
        return self.ad.graph_size(handle["graph"])


# --- peers -------------------------------------------------------------------------------

def torch_graph_nodes(t):
    """Distinct autograd nodes reachable from t.grad_fn (the create_graph=True result)."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return len(seen)


class TorchWay:
    name = "torch"
    label = "autograd.grad(d.sum(), x, create_graph=True), n times; eager"

    def __init__(self, kind):
        self.torch, self.kind = import_peer("torch"), kind

    def _run(self, n):
        torch = self.torch
        x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
        d = _apply(self.kind, torch, x)
        for _ in range(n):
            d, = torch.autograd.grad(d.sum(), x, create_graph=True)
        return d

    def build(self, n):
        return n, self._run(n)

    def evaluate(self, handle):
        return self._run(handle[0]).detach().numpy()  # eager: a new x means a re-run

    def size(self, handle):
        return torch_graph_nodes(handle[1])


def jaxpr_equations(jaxpr):
    """Equations of a jaxpr, those of sub-jaxprs (pjit, custom_jvp, ...) included."""
    count = 0
    for eqn in jaxpr.eqns:
        count += 1
        for p in eqn.params.values():
            for q in (p if isinstance(p, (list, tuple)) else (p,)):
                inner = getattr(q, "jaxpr", None)
                if inner is not None:
                    count += jaxpr_equations(getattr(inner, "jaxpr", inner)
                                             if not hasattr(inner, "eqns") else inner)
    return count


class JaxWay:
    name = "jax (jit)"
    label = "jax.grad(lambda x: jnp.sum(g(x))), n times; jit(f).trace, lower().compile()"

    def __init__(self, kind):
        self.jax = import_peer("jax")
        import jax.numpy as jnp
        self.jnp, self.kind = jnp, kind
        self.x = jnp.asarray(X0)

    def build(self, n):
        jax, jnp = self.jax, self.jnp
        f = lambda x: _apply(self.kind, jnp, x)  # noqa: E731
        for _ in range(n):
            f = (lambda g: jax.grad(lambda x: jnp.sum(g(x))))(f)
        return {"traced": jax.jit(f).trace(self.x), "compiled": None}

    def evaluate(self, handle):
        if handle["compiled"] is None:
            handle["compiled"] = handle["traced"].lower().compile()
        return np.asarray(handle["compiled"](self.x))  # np.asarray waits for the result

    def size(self, handle):
        return jaxpr_equations(handle["traced"].jaxpr.jaxpr)


class AutogradWay:
    name = "autograd"
    label = "autograd.elementwise_grad, n times; traced at every call"

    def __init__(self, kind):
        import_peer("autograd")
        import autograd.numpy as anp
        from autograd import elementwise_grad
        self.anp, self.egrad, self.kind = anp, elementwise_grad, kind

    def build(self, n):
        f = lambda x: _apply(self.kind, self.anp, x)  # noqa: E731
        for _ in range(n):
            f = self.egrad(f)
        return f

    def evaluate(self, f):
        with np.errstate(all="ignore"):
            return np.asarray(f(X0))

    def size(self, f):
        return None


# --- measuring ---------------------------------------------------------------------------

class Cell:
    """One (system, order): its samples per round and what the check found."""

    def __init__(self):
        self.build, self.first, self.second, self.evals = [], [], [], {}  # evals: round -> median
        self.size = None
        self.err = None
        self.wrong = None
        self.once = False
        self.handle = None
        self.eval_once = False
        self.values = None
        self.compile = []  # autodiff jax: {"seconds", "xla_seconds"} of each build


def _time_cell(way, n, cell, rnd, steady_budget, keep):
    """Build, evaluate twice and then repeatedly; record into `cell`. Returns the values."""
    gc.collect()
    t0 = time.perf_counter()
    handle = way.build(n)
    t1 = time.perf_counter()
    v1 = way.evaluate(handle)
    t2 = time.perf_counter()
    v2 = way.evaluate(handle)
    t3 = time.perf_counter()
    evals = [t3 - t2]
    _repeat(way, handle, evals, steady_budget)
    cell.build.append(t1 - t0)
    cell.first.append(t2 - t1)
    cell.second.append(t3 - t2)
    cell.evals[rnd] = statistics.median(evals)
    if cell.size is None:
        cell.size = way.size(handle)
    if isinstance(handle, dict) and handle.get("compile"):
        cell.compile.append(handle["compile"])
    if keep:
        cell.handle = handle
    return v1, v2


def _repeat(way, handle, evals, budget, most=49):
    spent = sum(evals)
    for _ in range(most):
        if spent >= budget:
            break
        t0 = time.perf_counter()
        way.evaluate(handle)
        dt = time.perf_counter() - t0
        evals.append(dt)
        spent += dt


def _predict(costs, n):
    """Seconds order `n` will take, extrapolating the growth of the last two measured
    orders geometrically (`costs`: [(order, seconds)])."""
    if not costs:
        return 0.0
    n1, last = costs[-1]
    if len(costs) < 2 or costs[-2][1] < 0.02:  # too small to measure a growth: assume 4x
        return last * 4 ** (n - n1)
    n0, prev = costs[-2]
    growth = max(1.0, last / prev) ** (1.0 / (n1 - n0))
    return last * growth ** (n - n1)


def _wrong_note(values, ref, tol):
    bad = ~np.isfinite(values) | (np.abs(values - ref) > tol * np.max(np.abs(ref)))
    if not bad.any():
        return None
    kinds = []
    if (~np.isfinite(values)).any():
        kinds.append(f"{int((~np.isfinite(values)).sum())} non-finite")
    return (f"{int(bad.sum())} of {values.size} points wrong ({', '.join(kinds) or 'finite'}), "
            f"|x| >= {np.min(np.abs(X0[bad])):.2f}")


def make_ways(kind, skip):
    ways = [TanhClosedForm() if kind == "W1" else Sin3Taylor()]
    notes = []
    for cls in (AutodiffDerivative, AutodiffNested, AutodiffNestedRaw):
        if cls.name not in skip:
            ways.append(cls(kind))
    if AutodiffJax.name not in skip:
        note = jax_backend_note()
        if note:
            notes.append(note)
        else:
            ways.append(AutodiffJax(kind))
    for peer, cls in (("torch", TorchWay), ("jax", JaxWay), ("autograd", AutogradWay)):
        if import_peer(peer) is None:
            notes.append(peer_note(peer))
        elif cls.name not in skip:
            ways.append(cls(kind))
    return ways, notes


def run(kind, args, out):
    # Everything alive now (torch, jax, ...) goes to gc's permanent generation, so the
    # collection before each cell costs microseconds, not 0.1-0.3 s (as in harness.measure)
    gc.collect()
    gc.freeze()
    try:
        return _run(kind, args, out)
    finally:
        gc.unfreeze()


def _run(kind, args, out):
    quick = args.quick
    tol = args.tol
    cap = args.cell_cap
    repeat_cap = 0.2 if quick else 1.0        # build + first eval above this: built once
    eval_repeat_cap = 0.05 if quick else 0.5  # one evaluation above this: timed in round 0 only
    steady_budget = 0.02 if quick else 0.1    # seconds of repeated evaluations per cell
    orders = QUICK_ORDERS if quick else ORDERS
    ways, notes = make_ways(kind, set(args.skip))
    gc.collect()
    gc.freeze()  # the peers' modules, imported just now
    ref = ways[0]
    cells = {(w.name, n): Cell() for w in ways for n in orders}
    costs = {w.name: [] for w in ways}
    stopped = {}
    checks = []
    ref_values = {}
    t_start = time.perf_counter()

    # round 0: check every cell (and measure what it costs)
    out(f"  round 0 (check, tolerance {tol:g} of max|value|; cell cap {cap:g} s):")
    for n in orders:
        line = []
        for w in ways:
            if w.name in stopped:
                cells.pop((w.name, n), None)
                continue
            predicted = _predict(costs[w.name], n)
            if predicted > cap and w is not ref:
                stopped[w.name] = (n, predicted)
                cells.pop((w.name, n))
                continue
            cell = cells[(w.name, n)]
            try:
                v1, v2 = _time_cell(w, n, cell, 0, steady_budget, keep=True)
            except Exception as exc:  # reported, the system's higher orders left out
                cell.wrong = f"ERROR {type(exc).__name__}: {exc}"
                stopped[w.name] = (n, None)
                checks.append({"system": w.name, "n": n, "error": cell.wrong, "ok": False})
                line.append(f"{w.name} ERROR")
                continue
            cost = cell.build[0] + cell.first[0] + cell.second[0]
            costs[w.name].append((n, cost))
            if w is ref:
                ref_values[n] = v1
            cell.values = np.asarray(v1, dtype=np.float64)
            cell.err = max(rel_err(v1, ref_values[n]), rel_err(v2, ref_values[n]))
            if not cell.err <= tol:
                cell.wrong = _wrong_note(np.asarray(v1, dtype=np.float64), ref_values[n], tol) \
                    or f"error {cell.err:.1e}"
            checks.append({"system": w.name, "n": n, "values_err": cell.err,
                           "ok": cell.wrong is None, "wrong": cell.wrong})
            if cost > repeat_cap:
                cell.once = True
                cell.eval_once = cell.second[0] > eval_repeat_cap
                if cell.eval_once:
                    cell.handle = None  # nothing more to do with it
            else:
                cell.handle = None
                cell.build.clear()   # round 0 of a cheap cell is a warm-up
                cell.first.clear()
                cell.second.clear()
                cell.evals.clear()
                cell.compile.clear()
            line.append(f"{w.name} {cell.err:.0e}" + (" WRONG" if cell.wrong else ""))
        out(f"    n={n:<2} " + ", ".join(line) + f"   [{time.perf_counter() - t_start:.0f} s]")
        sys.stdout.flush()

    for name, (n, predicted) in stopped.items():
        if predicted is None:
            notes.append(f"{name}: failed at n = {n}; higher orders left out")
        else:
            notes.append(f"{name}: n >= {n} left out: predicted {predicted:.0f} s for one "
                         f"build and evaluation (cell cap {cap:g} s, --cell-cap)")

    fd_lines = _fd_and_peer_check(kind, ways, cells, ref_values, orders, checks) \
        if kind == "W1b" else []
    for line in fd_lines:
        out(line)

    # The graphs kept for re-evaluation (up to 10^5 nodes) move to gc's permanent
    # generation too: otherwise every collection below would walk them.
    gc.collect()
    gc.freeze()

    # timed rounds
    for r in range(1, args.rounds + 1):
        t_round = time.perf_counter()
        order = ways[(r - 1) % len(ways):] + ways[:(r - 1) % len(ways)]
        for n in orders:
            for w in order:
                cell = cells.get((w.name, n))
                if cell is None or cell.wrong and cell.wrong.startswith("ERROR"):
                    continue
                if cell.once:
                    if not cell.eval_once:
                        gc.collect()
                        evals = []
                        _repeat(w, cell.handle, evals, steady_budget, most=50)
                        cell.evals[r] = statistics.median(evals)
                    continue
                v1, _ = _time_cell(w, n, cell, r, steady_budget, keep=False)
                e = rel_err(v1, ref_values[n])
                if not e <= tol and cell.wrong is None:
                    cell.wrong = f"round {r}: error {e:.1e}"
        out(f"    round {r}/{args.rounds} done in {time.perf_counter() - t_round:.1f} s")
    for cell in cells.values():
        cell.handle = cell.values = None

    lines, data = _table(kind, ways, cells, orders, args.rounds)
    lines += fd_lines
    lines += _reference_figures(kind, ways, cells)
    notes.append("eval ms = median over rounds of each round's median of repeated evaluations; "
                 "x numpy_by_hand = that per-round median / numpy_by_hand's in the same round, "
                 "median over rounds (range); 'once': built in round 0 only (build + first "
                 f"evaluation over {repeat_cap:g} s), its build and first evaluation measured "
                 "once")
    notes.append("torch is eager: its eval columns time a complete re-run of the nested grads "
                 "(what evaluating at a new x costs); jax: build = trace, 1st eval = lower + "
                 "XLA compile + call; autodiff: 1st eval = planning (ad.evaluate simplifies "
                 "graphs holding derivatives of derivatives) + computing")
    return {"extra_lines": lines, "notes": notes, "checks": checks, "data": data}


def _fd_and_peer_check(kind, ways, cells, ref_values, orders, checks):
    """W1b: autodiff's n-th derivative against a central difference of its (n-1)-th, and
    each peer against autodiff."""
    lines = [f"  finite-difference check (4-point central difference of the (n-1)-th "
             f"derivative, h = {FD_STEP:g}, tolerance {FD_TOL:g}) and agreement with autodiff:"]
    ad_way = next((w for w in ways if w.name == "autodiff derivative"), None)
    if ad_way is None:
        return []
    ad = ad_way.ad
    peers = [w for w in ways if w.name in ("torch", "jax (jit)", "autograd")]
    for n in orders:
        x = ad.Variable(X0.copy(), name="x")
        y = _apply(kind, ad, x)
        prev = ad.derivative(y, x, n - 1)
        vals = {}
        for k in (-2, -1, 1, 2):
            x.value = X0 + k * FD_STEP
            vals[k] = ad.evaluate(prev)
        x.value = X0.copy()
        fd = (-vals[2] + 8 * vals[1] - 8 * vals[-1] + vals[-2]) / (12 * FD_STEP)
        d_n = ad.evaluate(ad.derivative(y, x, n))
        e_ad = rel_err(d_n, fd)
        taylor_fd = (-sin3_taylor(X0 + 2 * FD_STEP, n - 1) + 8 * sin3_taylor(X0 + FD_STEP, n - 1)
                     - 8 * sin3_taylor(X0 - FD_STEP, n - 1) + sin3_taylor(X0 - 2 * FD_STEP, n - 1)
                     ) / (12 * FD_STEP)
        e_ref = rel_err(ref_values[n], taylor_fd)
        agree = []
        for w in peers:  # the values each peer gave in round 0
            cell = cells.get((w.name, n))
            if cell is not None and cell.values is not None:
                agree.append(f"{w.name} {rel_err(cell.values, d_n):.0e}")
        ok = e_ad <= FD_TOL
        checks.append({"system": "autodiff derivative", "n": n, "fd_err": e_ad,
                       "taylor_fd_err": e_ref, "ok": ok})
        lines.append(f"    n={n:<2} autodiff vs FD {e_ad:.1e} {'OK' if ok else 'MISMATCH'}; "
                     f"Taylor vs its FD {e_ref:.1e}; autodiff vs Taylor "
                     f"{rel_err(d_n, ref_values[n]):.0e}"
                     + (f"; peers vs autodiff: {', '.join(agree)}" if agree else ""))
    return lines


def _fmt_s(seconds):
    if seconds is None:
        return "-"
    if seconds >= 10:
        return f"{seconds:.0f}"
    if seconds >= 1:
        return f"{seconds:.1f}"
    if seconds >= 0.01:
        return f"{seconds:.2f}"
    if seconds >= 0.001:
        return f"{seconds:.3f}"
    return f"{seconds:.1e}"


def _fmt_ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _fmt_ratio(r):
    return f"{r:.2f}" if r < 10 else f"{r:.1f}" if r < 100 else f"{r:.0f}"


def _med(xs):
    return statistics.median(xs) if xs else None


def _table(kind, ways, cells, orders, rounds):
    head = (f"  {'n':>2}  {'system':<27}{'size':>7}{'build s':>9}{'1st eval ms':>13}"
            f"{'2nd eval ms':>13}  {'eval ms (spread)':<20}{'x numpy_by_hand':>16}  "
            f"{'(range)':<13} check")
    lines = [f"  numpy_by_hand: {ways[0].label}", head, "  " + "-" * (len(head) - 2)]
    data = {}
    for n in orders:
        ref_cell = cells.get((ways[0].name, n))
        for i, w in enumerate(ways):
            cell = cells.get((w.name, n))
            if cell is None:
                continue
            ev = cell.evals
            med = _med(list(ev.values()))
            spread = ((max(ev.values()) - min(ev.values())) / med
                      if len(ev) > 1 and med else None)
            ratios = []
            if ref_cell is not None:
                for r, v in ev.items():
                    if r in ref_cell.evals and ref_cell.evals[r] > 0:
                        ratios.append(v / ref_cell.evals[r])
                if not ratios and ref_cell.evals and med:  # measured in different rounds
                    ratios = [med / _med(list(ref_cell.evals.values()))]
            ratio = _med(ratios)
            size = "-" if cell.size is None else str(cell.size)
            ev_txt = _fmt_ms(med) + (f" ({spread * 100:.0f}%)" if spread is not None else
                                     " (once)" if cell.eval_once else "")
            rr = f"{_fmt_ratio(min(ratios))}-{_fmt_ratio(max(ratios))}" if len(ratios) > 1 else ""
            check = ("ref" if w is ways[0] else
                     (f"WRONG: {cell.wrong}" if cell.wrong else f"{cell.err:.0e} OK"))
            build = _fmt_s(_med(cell.build)) + ("*" if cell.once else " ")
            lines.append(f"  {n if i == 0 else '':>2}  {w.name:<27}{size:>7}{build:>10}"
                         f"{_fmt_ms(_med(cell.first)):>12}{_fmt_ms(_med(cell.second)):>13}  "
                         f"{ev_txt:<20}{(_fmt_ratio(ratio) if ratio else '-'):>16}  {rr:<13} "
                         f"{check}")
            data[f"{w.name} n={n}"] = {
                "system": w.name, "n": n, "size": cell.size, "build_s": cell.build,
                "first_eval_s": cell.first, "second_eval_s": cell.second,
                "eval_s_by_round": {str(r): v for r, v in ev.items()}, "ratio": ratio,
                "round_ratios": ratios, "once": cell.once, "err": cell.err,
                "wrong": cell.wrong, "compile": cell.compile}
    lines.append("  * built once (round 0): its build and first/second evaluation are single "
                 "measurements")
    lines += _compile_lines(ways, cells, orders)
    return lines, data


def _compile_lines(ways, cells, orders):
    """Compile seconds by order for the systems that compile a program (median over
    rounds): the ad.function call and, of it, JAX's lowering and XLA's compilation."""
    lines = []
    for w in ways:
        per_order = []
        for n in orders:
            cell = cells.get((w.name, n))
            if cell is not None and cell.compile:
                total = _med([c["seconds"] for c in cell.compile])
                xla = _med([c["xla_seconds"] for c in cell.compile])
                per_order.append(f"n={n} {total:.2f} ({xla:.2f})")
        if per_order:
            lines.append(f"  {w.name}: compile s (ad.function; of it XLA lower + compile), "
                         f"part of its 1st eval: " + ", ".join(per_order))
    return lines


def _reference_figures(kind, ways, cells):
    """Sizes at the highest order next to the figures quoted in BENCHMARKS.md (tanh)."""
    sizes = []
    for w in ways:
        top = max((n for (name, n) in cells if name == w.name), default=None)
        if top is not None and cells[(w.name, top)].size is not None:
            sizes.append(f"{w.name} {cells[(w.name, top)].size} (n={top})")
    lines = [f"  sizes at the highest order measured: {'; '.join(sizes)}"]
    if kind == "W1":
        lines.append("  BENCHMARKS.md's figures at n = 10 (tanh): JAX jaxpr 22,278 equations, "
                     "PyTorch graph 11,368 nodes, a CAS after CSE 24 operations, closed form "
                     "6 coefficients")
    return lines


def build(key, quick=False, skip=()):
    orders = QUICK_ORDERS if quick else ORDERS
    title = (f"n-th derivative of f(x) = {FUNCTIONS[key]}, x = linspace(-7, 7, 1000), "
             f"n = {orders[0]}..{orders[-1]}: build, two evaluations, graph size")
    return CustomWorkload(key, title, lambda args, out: run(key, args, out))
