"""What `simplify` and `rewrite_for_evaluation` cost, and what they give, on graphs that
have made them slow: elementwise chains and their derivatives, nested derivatives.

Workloads (x = linspace(-2, 2, 11) unless said):

* ``sin{D}-d{k}``: y = sin(sin(...sin(x))) of depth D (25, 50, 100, 1000, 10000) and its
  k-th derivative (k = 1, 2) by nested ``ad.grad(ad.sum(.), [x])``. The first evaluation
  ``ad.evaluate(d)`` rewrites second derivatives (``simplify="auto"``); "raw" is
  ``ad.evaluate(d, simplify=False)``.
* ``sin200-function``: ``ad.function`` of the first derivative of the depth-200 chain,
  compile seconds and seconds a call, against ``ad.Function(g, simplify=False)``.
* ``tanh80-d{k}``: the tanh chain of depth 80 and its derivatives (k = 0, 1, 2): sizes
  before and after ``ad.simplify``.
* ``ode50``: a logistic ODE, 50 Euler steps ``y = y + r*y*(1-y)*dt`` (r a scalar
  Variable, y0 a Variable of 11 values), the loss ``sum(y)`` and its gradient with
  respect to r and y0: ``ad.function`` compile seconds and seconds a call, rewritten
  against raw.
* ``tanh-nested{n}``: ``d = tanh(x)``, then n times ``d = ad.grad(d, [x])[0]`` with no
  simplify in between (n = 8..12): the README's size table route, the largest graphs.

Each workload runs in a fresh process (no state shared between them), `--repeat` times;
a workload that exceeds `--cap` seconds is stopped and what it did not finish is shown as
``>cap``. Columns: build s (the forward graph), grad s (derivatives), nodes (distinct,
as given), simplify s and its nodes, rewrite s (``rewrite_for_evaluation``) and its nodes,
eval s (first evaluation; with rewriting as the default does it, and raw), and
simplify / (build + grad), the ratio the issue bounds. Figures are medians over repeats
with [min-max] when repeated.

eval/raw is the first evaluation over the raw one (sin workloads). ``--clock cpu`` times
with the process's CPU time instead of the wall clock (steadier on a shared machine).

Run: PYTHONPATH=. python benchmarks/simplify.py [--repeat 3] [--cap 300] [--only sin,tanh]
     [--clock cpu]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from harness import set_threads

set_threads(1)

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402
from autodiff.rewrite import rewrite_for_evaluation  # noqa: E402

POINTS = np.linspace(-2.0, 2.0, 11)


# --- workloads: each yields (metric, value) pairs as it measures ----------------------

#: The clock of the measurements: the wall clock, or the process's CPU time (`--clock
#: cpu`: on a machine shared with other work, waiting for a core inflates wall times).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn):
    """(result, seconds) of fn()."""
    t = clock()
    out = fn()
    return out, clock() - t


def per_call(f, *args, budget=1.0):
    """Median seconds of a call of `f` (after two warm-up calls: plan, generated code)."""
    f(*args)
    f(*args)
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < budget and len(times) < 2000):
        t = clock()
        f(*args)
        times.append(clock() - t)
    return statistics.median(times)


def rewrite_metrics(outputs, built):
    """simplify and rewrite_for_evaluation of `outputs`: seconds, nodes, ratio to `built`."""
    simplified, s = timed(lambda: ad.simplify(outputs))
    yield "simplify_s", s
    yield "simplified_nodes", ad.graph_size(simplified)
    yield "ratio", s / built
    rewritten, s = timed(lambda: rewrite_for_evaluation(outputs))
    yield "rewrite_s", s
    yield "rewritten_nodes", ad.graph_size(rewritten)


def sin_chain(depth, order):
    """Metrics of the `order`-th derivative of a sin chain of `depth`."""
    def build():
        x = ad.Variable(POINTS, name="x")
        y = x
        for _ in range(depth):
            y = ad.sin(y)
        return x, y
    (x, y), b = timed(build)
    yield "build_s", b

    d, g = timed(lambda: nested_grad(y, x, order))
    yield "grad_s", g
    yield "nodes", ad.graph_size(d)
    _, raw = timed(lambda: ad.evaluate(d, simplify=False))
    yield "eval_raw_s", raw
    _, s = timed(lambda: ad.evaluate(d))
    yield "eval_s", s
    yield "eval_ratio", s / raw
    yield from rewrite_metrics([d], b + g)


def sin_function(depth):
    """Compile and call seconds of ad.function of a sin chain's gradient."""
    x = ad.Variable(POINTS, name="x")
    y, b = timed(lambda: _chain(ad.sin, x, depth))
    yield "build_s", b
    (g,), s = timed(lambda: ad.grad(ad.sum(y), [x]))
    yield "grad_s", s
    yield "nodes", ad.graph_size(g)
    yield from compiled_metrics([g], b + s)


def compiled_metrics(outputs, built):
    """ad.function against the unrewritten Function: compile s, call s, nodes."""
    raw, s = timed(lambda: ad.Function(outputs, simplify=False))
    yield "compile_raw_s", s
    f, s = timed(lambda: ad.function(outputs))
    yield "compile_s", s
    yield "ratio", s / built
    yield "rewritten_nodes", ad.graph_size(f.outputs)
    yield "call_raw_s", per_call(raw)
    yield "call_s", per_call(f)


def _chain(op, x, depth):
    y = x
    for _ in range(depth):
        y = op(y)
    return y


def nested_grad(y, x, order):
    """The `order`-th derivative of sum(y) by grad of grad, left unsimplified."""
    d = y
    for _ in range(order):
        d, = ad.grad(ad.sum(d), [x])
    return d


def tanh_chain(depth, order):
    """Sizes and seconds of simplify on a tanh chain's `order`-th derivative."""
    x = ad.Variable(POINTS, name="x")
    y, b = timed(lambda: _chain(ad.tanh, x, depth))
    yield "build_s", b

    d, g = timed(lambda: nested_grad(y, x, order))
    yield "grad_s", g
    yield "nodes", ad.graph_size(d)
    yield from rewrite_metrics([d], b + g)


def logistic_ode(steps):
    """Compile and call seconds of a logistic ODE's loss and gradient, rewritten or not."""
    def build():
        r = ad.Variable(1.5, name="r")
        y0 = ad.Variable(np.linspace(0.1, 0.9, 11), name="y0")
        y, dt = y0, 0.1
        for _ in range(steps):
            y = y + r * y * (1 - y) * dt
        return r, y0, ad.sum(y)
    (r, y0, loss), b = timed(build)
    yield "build_s", b
    grads, g = timed(lambda: ad.grad(loss, [r, y0]))
    yield "grad_s", g
    outputs = [loss, *grads]
    yield "nodes", ad.graph_size(outputs)
    yield from compiled_metrics(outputs, b + g)


def nested_tanh(order):
    """Seconds and sizes of simplify on the order-n nested grad of tanh."""
    x = ad.Variable(POINTS, name="x")
    y, b = timed(lambda: ad.tanh(x))
    yield "build_s", b

    def differentiate():
        d = y
        with warnings.catch_warnings():  # nesting without simplify grows on purpose here
            warnings.simplefilter("ignore")
            for _ in range(order):
                d, = ad.grad(d, [x])
        return d
    d, g = timed(differentiate)
    yield "grad_s", g
    yield "nodes", ad.graph_size(d)
    yield from rewrite_metrics([d], b + g)


WORKLOADS = {}
for _depth in (25, 50, 100, 1000, 10000):
    for _order in (1, 2):
        WORKLOADS[f"sin{_depth}-d{_order}"] = (sin_chain, _depth, _order)
WORKLOADS["sin200-function"] = (sin_function, 200)
for _order in (0, 1, 2):
    WORKLOADS[f"tanh80-d{_order}"] = (tanh_chain, 80, _order)
WORKLOADS["ode50"] = (logistic_ode, 50)
for _order in range(8, 13):
    WORKLOADS[f"tanh-nested{_order}"] = (nested_tanh, _order)

COLUMNS = [("build_s", "build s"), ("grad_s", "grad s"), ("nodes", "nodes"),
           ("simplify_s", "simplify s"), ("simplified_nodes", "-> nodes"),
           ("rewrite_s", "rewrite s"), ("rewritten_nodes", "-> nodes"),
           ("eval_s", "eval 1st s"), ("eval_raw_s", "raw eval 1st s"),
           ("eval_ratio", "eval/raw"),
           ("compile_s", "compile s"), ("compile_raw_s", "raw compile s"),
           ("call_s", "call s"), ("call_raw_s", "raw call s"),
           ("ratio", "rewrite/build")]


# --- running: one process per workload and repeat ------------------------------------

def run_child(name, clock_name="wall"):
    """Measure workload `name` in this process, printing one JSON line per metric."""
    global clock
    clock = CLOCKS[clock_name]
    fn, *args = WORKLOADS[name]
    for metric, value in fn(*args):
        print(json.dumps([metric, value]), flush=True)


def run_workload(name, cap, clock_name="wall"):
    """{metric: value} of one fresh-process run of `name`; unfinished metrics missing."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--clock", clock_name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=cap)
        capped = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        capped = True
    metrics = dict(json.loads(line) for line in out.splitlines() if line.startswith("["))
    metrics["capped"] = capped
    if proc.returncode not in (0, None) and not capped:
        print(f"{name} failed:\n{err}", file=sys.stderr)
        metrics["failed"] = (err.strip().splitlines() or ["?"])[-1].split(":")[0]
    return metrics


def summarise(runs, metric, cap):
    """Median [min-max] text of `metric` over `runs`, '>cap' when a run did not reach it."""
    values = [r[metric] for r in runs if metric in r]
    if len(values) < len(runs):
        failed = [r["failed"] for r in runs if "failed" in r]
        return f"fail ({failed[0]})" if failed else f">{cap:g}s"
    if not values:
        return ""
    med = statistics.median(values)
    if metric.endswith("nodes") or metric == "nodes":
        return f"{med:.0f}"
    text = _num(med)
    if len(values) > 1 and max(values) > min(values):
        text += f" [{_num(min(values))}-{_num(max(values))}]"
    return text


def _num(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.2f}"
    if v >= 1e-3:
        return f"{v:.4f}"
    return f"{v:.2e}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="fresh-process runs per workload")
    p.add_argument("--cap", type=float, default=300.0, help="seconds a run may take")
    p.add_argument("--only", default="", help="comma-separated name prefixes")
    p.add_argument("--json", default="", help="also write the raw runs here")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="time by the wall clock or by the process's CPU time")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args.child, args.clock)
        return
    prefixes = [s for s in args.only.split(",") if s]
    names = [n for n in WORKLOADS if not prefixes or any(n.startswith(s) for s in prefixes)]
    print(f"autodiff from {os.path.dirname(ad.__file__)}; repeat {args.repeat}, "
          f"cap {args.cap:g} s, {args.clock} clock")
    results = {}
    for name in names:
        runs = []
        for _ in range(args.repeat):
            runs.append(run_workload(name, args.cap, args.clock))
            if runs[-1]["capped"] or "failed" in runs[-1]:
                break  # a capped or failing workload is not repeated
        results[name] = runs
        unfinished = any(r["capped"] or "failed" in r for r in runs)
        shown = [(label, summarise(runs, m, args.cap)) for m, label in COLUMNS
                 if any(m in r for r in runs) or unfinished and m in _expected(name)]
        print(f"{name:16s} " + "  ".join(f"{label}: {text}" for label, text in shown
                                         if text), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def _expected(name):
    """The metrics workload `name` produces (for showing '>cap' on the missing ones)."""
    if name.endswith("function") or name.startswith("ode"):
        return {"build_s", "grad_s", "nodes", "compile_s", "compile_raw_s", "call_s",
                "call_raw_s", "ratio", "rewritten_nodes"}
    common = {"build_s", "grad_s", "nodes", "simplify_s", "simplified_nodes", "rewrite_s",
              "rewritten_nodes", "ratio"}
    return common | ({"eval_s", "eval_raw_s", "eval_ratio"} if name.startswith("sin") else set())


if __name__ == "__main__":
    main()
