"""Shared timing machinery for the benchmarks (see benchmarks/README.md).

What it does, following /work/shared/BENCHMARKS.md:

* thread settings: `set_threads(n)` puts OMP/OPENBLAS/MKL/... and XLA's thread flags in
  the environment. It must run before numpy (or torch, or jax) is imported, which is why
  this module imports neither at top level; `run.py` calls it first thing. Peers get the
  same count when they are imported (`import_peer`: `torch.set_num_threads`, ...).
* value checks: `verify` compares every system's loss and gradients, and its parameters
  after a few training steps, with the reference system (numpy_by_hand) before anything
  is timed. A system that disagrees (or crashes) is reported and left out of the timing.
* interleaved rounds: `measure` warms every system up, then runs `rounds` rounds. In a
  round each system does `steps` timed steps, in turns of `block` steps, systems taking
  turns (A B C A B C ...), the order rotated from round to round. Each step is timed
  on its own with `time.perf_counter`.
* statistics: per system the median step time (all rounds pooled), the median of each
  round, their spread, and the ratio to the reference computed *within* each round (the
  same minutes of machine time), reported as the median over rounds with its range.
"""
import gc
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field

REFERENCE = "numpy_by_hand"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")
_threads = None
_peers = {}          # name -> module, or an Exception saying why it is missing


# --- threads -------------------------------------------------------------------------

def set_threads(n):
    """Use `n` threads in every numerical library. Call before importing numpy."""
    global _threads
    early = [m for m in ("numpy", "torch", "jax") if sys.modules.get(m) is not None]
    if early:
        raise RuntimeError(f"set_threads must run before importing {', '.join(early)}: "
                           f"thread pools are sized when a library is loaded")
    _threads = int(n)
    for var in THREAD_VARS:
        os.environ[var] = str(_threads)
    xla = os.environ.get("XLA_FLAGS", "")
    xla = " ".join(f for f in xla.split() if "multi_thread_eigen" not in f
                   and "intra_op_parallelism_threads" not in f)
    multi = "true" if _threads > 1 else "false"
    os.environ["XLA_FLAGS"] = (f"{xla} --xla_cpu_multi_thread_eigen={multi} "
                               f"intra_op_parallelism_threads={_threads}").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return _threads


def threads():
    return _threads


_SKIPPED_PEERS = set()


def skip_peers(names):
    """Treat these peers as not installed (``--skip torch,jax``)."""
    _SKIPPED_PEERS.update(names)


def import_peer(name):
    """The peer library `name` ('torch', 'jax', 'autograd') configured for benchmarking,
    or None when it is missing; the reason is kept for `peer_note`."""
    if name in _peers:
        return _peers[name] if not isinstance(_peers[name], Exception) else None
    if name in _SKIPPED_PEERS:
        _peers[name] = RuntimeError("skipped on the command line")
        return None
    try:
        if name == "torch":
            import torch
            if _threads:
                torch.set_num_threads(_threads)
                try:
                    torch.set_num_interop_threads(_threads)
                except RuntimeError:  # only allowed once, before any parallel work
                    pass
            module = torch
        elif name == "jax":
            import jax
            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            module = jax
        elif name == "autograd":
            import autograd
            module = autograd
        else:
            raise ValueError(f"unknown peer {name!r}")
    except Exception as err:  # ImportError, or a broken installation
        _peers[name] = err
        return None
    _peers[name] = module
    return module


def jax_backend_note():
    """None when autodiff's jax backend can run here (jax importable), else why not. It
    does not depend on the jax peer: ``--skip jax`` leaves JAX's own systems out only."""
    try:
        import jax  # noqa: F401
    except Exception as err:
        return f"autodiff jax: jax not available ({type(err).__name__}: {err}); skipped"
    return None


def peer_note(name):
    err = _peers.get(name)
    if name in _SKIPPED_PEERS:
        return f"{name}: left out (--skip)"
    if isinstance(err, Exception):
        return f"{name} not available ({type(err).__name__}: {err}); skipped"
    return None


def environment():
    """Versions and settings recorded with every result."""
    import numpy as np
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": _threads,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS + ("XLA_FLAGS",)},
        "numpy": np.__version__,
        "dtype": "float64",
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        import autodiff
        info["autodiff"] = getattr(autodiff, "__version__", "?")
        info["autodiff_path"] = os.path.dirname(autodiff.__file__)
        info.update(git_state(os.path.dirname(os.path.dirname(autodiff.__file__))))
    except Exception as err:
        info["autodiff"] = f"import failed: {err}"
    try:
        from threadpoolctl import threadpool_info
        info["blas_pools"] = [{k: p.get(k) for k in ("internal_api", "version",
                                                       "num_threads", "filepath")}
                              for p in threadpool_info()]
    except Exception:
        pass
    for name in ("torch", "jax", "autograd"):
        mod = _peers.get(name)
        if mod is not None and not isinstance(mod, Exception):
            info[name] = getattr(mod, "__version__", None) or _dist_version(name)
            if name == "torch":
                info["torch_threads"] = mod.get_num_threads()
        elif isinstance(mod, Exception):
            info[name] = f"missing: {mod}"
    return info


def git_state(repo):
    """Commit of the checkout being measured, and whether autodiff/ has local changes
    (results from a dirty tree say so)."""
    import subprocess
    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "autodiff")
    except Exception:
        return {}
    if not head:
        return {}
    return {"git_commit": head, "autodiff_dirty": bool(dirty),
            "autodiff_changes": dirty.splitlines()[:20]}


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "?"


# --- systems and workloads ----------------------------------------------------------

@dataclass
class System:
    """One way of running a workload.

    `step()` does one timed unit of work (a training step, or one gradient evaluation)
    and returns only when its results are ready. `values()` returns {name: array} of
    the loss and gradients at the current state on the check batch, changing nothing.
    `params()` (optional) returns the parameters as numpy arrays, to check that
    training steps agree too. `compile` (optional), for systems that compile a program
    before their first step: ``{"seconds": s, "xla_seconds": s}``, the whole
    ``ad.function(...)`` call and, of it, JAX's lowering and XLA's compilation
    (``Function.compile_seconds``); reported in their own column, never in a step time.
    """
    name: str
    step: callable
    values: callable
    params: callable = None
    note: str = ""
    compile: dict = None


@dataclass
class Workload:
    key: str                      # "W2"
    title: str
    systems: list
    steps: int                    # timed steps per system per round
    warmup: int
    check_steps: int = 3          # training steps taken before comparing parameters
    notes: list = field(default_factory=list)
    unit: str = "step"
    #: lines printed under the table (e.g. first-call times measured once in build())
    extra_lines: list = field(default_factory=list)
    #: report(summary) -> more lines, computed from the timing summary after the rounds
    report: callable = None
    #: close() releases what the workload holds (subprocesses); run.py calls it at the end
    close: callable = None


@dataclass
class CustomWorkload:
    """A workload that is not "one timed step per system" (W1: a table over derivative
    orders). ``run(args, out)`` does its own checks and interleaved rounds and returns a
    result dict with at least ``extra_lines`` (its printed table) and ``checks``."""
    key: str
    title: str
    run: callable


def timed_compile(make):
    """Run `make()` (an ``ad.function(...)`` call) and time it: (function, compile record
    for `System.compile`: the whole call, and the part ``Function.compile_seconds`` says
    JAX's lowering and XLA's compilation took, when the backend records it)."""
    t0 = time.perf_counter()
    function = make()
    seconds = time.perf_counter() - t0
    return function, {"seconds": seconds,
                      "xla_seconds": getattr(function, "compile_seconds", None)}


def rel_err(a, b):
    """max |a - b| / max |b|: relative to the reference array's scale (0 if both 0)."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if b.size else 0.0
    if not np.isfinite(diff):
        return float("inf")
    return diff / scale if scale > 0 else diff


def _compare(values, ref):
    worst_name, worst = None, 0.0
    if set(values) != set(ref):
        return "keys", float("inf")
    for k in ref:
        e = rel_err(values[k], ref[k])
        if worst_name is None or e > worst:
            worst_name, worst = k, e
    return worst_name, worst


def verify(workload, tol=1e-8, out=print):
    """Check every system against the reference before timing; drop the failures.

    Compares loss and gradients at the common starting point, then takes
    `workload.check_steps` training steps on every system and compares the parameters.
    Returns a list of per-system check records (also printed).
    """
    systems = workload.systems
    ref = next(s for s in systems if s.name == REFERENCE)
    records, keep = [], []
    out(f"  value check against {REFERENCE} (max |a-b|/max|b| per array, tolerance {tol:g}):")
    try:
        ref_values = ref.values()
    except Exception as err:
        raise RuntimeError(f"{workload.key}: the reference failed:\n{traceback.format_exc()}") \
            from err
    results = {}
    for s in systems:
        rec = {"system": s.name}
        try:
            values = ref_values if s is ref else s.values()
            which, err = _compare(values, ref_values)
            rec.update(values_err=err, values_worst=which,
                       loss=float(values.get("loss", float("nan"))))
        except Exception as exc:
            rec.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        results[s.name] = rec
    if ref.params is not None and workload.check_steps:
        ref_params = None
        for s in systems:
            rec = results[s.name]
            if "error" in rec or s.params is None:
                continue
            try:
                for _ in range(workload.check_steps):
                    s.step()
                p = s.params()
                if s is ref:
                    ref_params = p
            except Exception as exc:
                rec.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
                continue
            rec["_params"] = p
        if ref_params is None:
            raise RuntimeError(f"{workload.key}: the reference failed its training steps:\n"
                               f"{results[ref.name].get('traceback')}")
        for s in systems:
            rec = results[s.name]
            if "_params" in rec:
                ps = rec.pop("_params")
                errs = [rel_err(a, b) for a, b in zip(ps, ref_params)]
                rec["params_err"] = max(errs) if len(ps) == len(ref_params) else float("inf")
    for s in systems:
        rec = results[s.name]
        if "error" in rec:
            ok = False
            msg = f"ERROR {rec['error']}"
        else:
            errs = [rec["values_err"]] + ([rec["params_err"]] if "params_err" in rec else [])
            ok = all(e <= tol for e in errs)
            msg = f"loss {rec['loss']:.10g}  loss+grads {rec['values_err']:.1e}"
            if rec["values_err"] > 0:
                msg += f" (worst: {rec['values_worst']})"
            if "params_err" in rec:
                msg += f"  params after {workload.check_steps} steps {rec['params_err']:.1e}"
            msg += "  OK" if ok else "  MISMATCH"
        rec["ok"] = ok
        out(f"    {s.name:<26} {msg}")
        if not ok and "traceback" in rec:
            out("      " + rec["traceback"].strip().replace("\n", "\n      "))
        records.append(rec)
        if ok:
            keep.append(s)
        else:
            workload.notes.append(f"{s.name}: value check failed; not timed")
    workload.systems = keep
    return records


# --- timing --------------------------------------------------------------------------

def measure(workload, rounds, block, budget=None, min_steps=10, min_warmup=2, out=print):
    """Warm up, then `rounds` interleaved rounds; returns {system: [[seconds, ...] per round]}.

    `budget` (seconds per system per round) caps the timed steps of a slow system:
    it runs ``max(min_steps, budget / its warm-up step time)`` steps per round instead of
    `workload.steps`, spread over the same turns as everyone else, so it stays
    interleaved. Its warm-up is cut short the same way (to at least `min_warmup` steps).
    `workload.steps_per_round` records what each system ran.
    """
    systems = workload.systems
    times = {s.name: [[] for _ in range(rounds)] for s in systems}
    plan = {}
    for s in systems:
        warm = []
        for k in range(workload.warmup):
            t0 = time.perf_counter()
            s.step()
            warm.append(time.perf_counter() - t0)
            if budget is not None and k + 1 >= min_warmup and sum(warm) > budget:
                break
        estimate = statistics.median(warm[1:] or warm)
        n = workload.steps
        if budget is not None and estimate * n > budget:
            n = max(min(min_steps, workload.steps), int(budget / estimate))
        plan[s.name] = n
    workload.steps_per_round = plan
    reduced = {k: v for k, v in plan.items() if v < workload.steps}
    if reduced:
        out("    time budget: " + ", ".join(f"{k} {v} steps per round" for k, v in reduced.items()))
    turns = -(-workload.steps // block)
    # Everything alive now (the libraries, the systems' graphs and data) moves to gc's
    # permanent generation: the collection between turns then costs microseconds instead
    # of a traversal of every object torch and jax hold (0.1-0.3 s each).
    gc.collect()
    gc.freeze()
    try:
        _rounds(systems, plan, times, rounds, turns, out)
    finally:
        gc.unfreeze()
    return times


def _rounds(systems, plan, times, rounds, turns, out):
    for r in range(rounds):
        t_round = time.perf_counter()
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for turn in range(turns):
            for s in order:
                total = plan[s.name]  # this system's steps, spread evenly over the turns
                n = (turn + 1) * total // turns - turn * total // turns
                if not n:
                    continue
                gc.collect()  # one system's garbage is not collected on another's clock
                record = times[s.name][r]
                step = s.step
                for _ in range(n):
                    t0 = time.perf_counter()
                    step()
                    record.append(time.perf_counter() - t0)
        out(f"    round {r + 1}/{rounds} done in {time.perf_counter() - t_round:.1f} s")


def summarize(times):
    """Medians, spread between rounds and ratios to the reference, per system."""
    ref = times.get(REFERENCE)
    ref_medians = [statistics.median(r) for r in ref] if ref else None
    summary = {}
    for name, rounds in times.items():
        medians = [statistics.median(r) for r in rounds]
        pooled = [t for r in rounds for t in r]
        med = statistics.median(pooled)
        entry = {
            "median_ms": med * 1e3,
            "round_medians_ms": [m * 1e3 for m in medians],
            "spread": (max(medians) - min(medians)) / med if med > 0 else 0.0,
            "min_ms": min(pooled) * 1e3,
            "steps": len(pooled),
        }
        if ref_medians:
            ratios = [m / rm for m, rm in zip(medians, ref_medians)]
            entry["ratio"] = statistics.median(ratios)
            entry["round_ratios"] = ratios
        summary[name] = entry
    return summary


def format_table(results):
    """The printed table: one block per workload, one line per system."""
    lines = []
    head = (f"{'system':<28}{'median ms':>11}  {'round medians ms (spread)':<30}"
            f"{'x numpy_by_hand':>16}  {'ratio by round':<15}{'steps':>6}  {'compile s (xla)':>15}")
    for wl in results:
        lines.append("")
        if "summary" not in wl:  # a CustomWorkload: its own table
            lines.append(f"{wl['key']}  {wl['title']}")
            lines.extend(wl.get("extra_lines", []))
            for note in wl.get("notes", []):
                lines.append(f"  note: {note}")
            continue
        lines.append(f"{wl['key']}  {wl['title']}   [{wl['steps']} {wl['unit']}s x "
                     f"{wl['rounds']} rounds per system, interleaved in turns of {wl['block']}]")
        lines.append(head)
        lines.append("-" * len(head))
        for name, e in wl["summary"].items():
            rm = e["round_medians_ms"]
            rounds = f"{_fmt(min(rm))}-{_fmt(max(rm))} ({e['spread'] * 100:.0f}%)"
            ratio = f"{e['ratio']:.2f}" if "ratio" in e else "-"
            rr = e.get("round_ratios")
            rr = f"{min(rr):.2f}-{max(rr):.2f}" if rr else ""
            steps = wl.get("steps_per_round", {}).get(name, wl["steps"])
            steps = f"{steps}{'*' if steps < wl['steps'] else ''}"
            lines.append(f"{name:<28}{_fmt(e['median_ms']):>11}  {rounds:<30}{ratio:>16}  "
                         f"{rr:<15}{steps:>6}  {_fmt_compile(wl.get('compile', {}).get(name)):>15}")
        if any(v < wl["steps"] for v in wl.get("steps_per_round", {}).values()):
            lines.append(f"  * steps per round cut by the time budget "
                         f"({wl.get('budget')} s per system per round)")
        for note in wl["notes"]:
            lines.append(f"  note: {note}")
        lines.extend(wl.get("extra_lines", []))
    return "\n".join(lines)


def _fmt_compile(record):
    """'total (xla)' seconds of a compiled system, '' for the others."""
    if not record:
        return ""
    xla = record.get("xla_seconds")
    return f"{record['seconds']:.2f}" + (f" ({xla:.2f})" if xla is not None else "")


def _fmt(ms):
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def profile(system, steps, top=25, out=print):
    """cProfile `steps` steps of one system; print the top entries by own and total time."""
    import cProfile
    import io
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        system.step()
    prof.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        out(f"  profile of {system.name}, {steps} steps, sorted by {key}:")
        out(text[start:].rstrip())
