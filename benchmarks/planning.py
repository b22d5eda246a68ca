"""What planning costs: ``ad.function`` on large graphs, against the time to build them.

    python benchmarks/planning.py                         # 1k, 10k, 100k; 3 repeats
    python benchmarks/planning.py --sizes 1000,10000 --repeats 5 --graphs chain
    python benchmarks/planning.py --modes built           # plan the graphs as built only
    python benchmarks/planning.py --peaks [--save F] [--compare F]   # planned peaks only
    python benchmarks/planning.py --profile chain:10000:grad:built   # cProfile one planning

Graphs (each at every size n, on arrays of 4 float64 values):

* ``parallel``: n independent branches summed, ``Add(*[sin(x_k * w) for k])``, each x_k
  its own Variable, w shared.
* ``chain``: n elementwise nodes one after the other, ``sin(sin(...sin(x)))``.

and for each, ``fwd`` (that node alone) and ``grad`` (``[loss, *grad(loss, variables)]``
with ``loss = sum(y)``: for parallel, the gradient with respect to every x_k and w).

Each is planned in two modes: ``function`` is ``ad.function(outputs)`` (rewriting, then
scheduling), ``built`` is ``ad.Function(outputs, simplify=False)``: the same planning on
the graph as built, without rewriting, which isolates the schedule and the generated code.

Every measurement runs in a fresh process (``--child``), so one case's memory and garbage
do not weigh on the next, and a case that runs past ``--timeout`` or fails is reported as
such instead of stopping the run. Columns (seconds, median over the repeats, with the
range in brackets when it spreads over 10%):

* build: making the graph; grad: ``ad.grad`` (grad graphs only).
* plan: constructing the Function, all of it; of which rewrite
  (``rewrite_for_evaluation``, or ``rewrite_with_order`` where Function calls that) and
  schedule (steps, order and slots: the part in ``autodiff/runtime/schedule.py``); the
  rest is traversal and bookkeeping.
* plan/build: plan over the time that made the graph (build, plus grad for grad graphs);
  sched/build the same for the schedule alone.
* call 1: the first call (the step loop); call 2: the second, which generates the
  straight-line code first (codegen: that part alone); call 3: the steady state.
* planned: ``Function.planned_peak_bytes()``; plan MB: the ``tracemalloc`` peak while
  planning (a separate run: tracing slows Python down), everything allocated on the way,
  rewritten graph included.

``--peaks`` prints the planned peak bytes of the graphs of benchmarks/w3_char_rnn.py,
w6_memory.py, examples/checkpointing.py and the runtime tests (RNN gradients, checkpointed
segments, MLP gradients), and of a fixed set of random graphs; ``--save`` writes them to a
JSON file and ``--compare`` checks that none grew against such a file (from another
checkout: run it with that checkout on PYTHONPATH).

``--clock cpu`` times with the process's CPU time instead of the wall clock: on a machine
shared with other work, waiting for a core inflates wall times (and unevenly).

Run it with the checkout to measure first on the path (``PYTHONPATH=$PWD``); the header
prints which autodiff was imported. Timings on a shared machine are noisy: compare ratios
measured in the same run.
"""
import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GRAPHS = ("parallel", "chain")
KINDS = ("fwd", "grad")
MODES = ("function", "built")
WIDTH = 4  # values per array: small, so planning, not arithmetic, is what is measured
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set in the child by --clock


# --- the graphs -----------------------------------------------------------------------

def build_graph(graph, n):
    """(y, the Variables y depends on) for the named graph of size `n`."""
    import numpy as np
    import autodiff as ad
    rng = np.random.default_rng(n)
    if graph == "parallel":
        w = ad.Variable(np.full(WIDTH, 0.5), name="w")
        xs = [ad.Variable(rng.standard_normal(WIDTH), name=f"x{k}") for k in range(n)]
        return ad.Add(*[ad.sin(x * w) for x in xs]), [w, *xs]
    if graph == "chain":
        x = ad.Variable(rng.standard_normal(WIDTH), name="x")
        y = x
        for _ in range(n):
            y = ad.sin(y)
        return y, [x]
    raise ValueError(f"unknown graph {graph!r}; choose from {', '.join(GRAPHS)}")


def with_gradient(y, variables):
    """[loss, *d loss / d variables] for loss = sum(y)."""
    import autodiff as ad
    loss = ad.sum(y)
    return [loss, *ad.grad(loss, variables)]


# --- one measurement (in a child process) ---------------------------------------------

class PhaseTimer:
    """Wraps the planning passes `Function` calls (by the names function.py imports them
    under) to add up the seconds spent in each; names it does not find are skipped."""

    PHASES = {"rewrite_for_evaluation": "rewrite", "rewrite_with_order": "rewrite",
              "plan_steps": "schedule", "best_order": "schedule", "assign_slots": "schedule",
              "compile_steps": "codegen"}

    def __init__(self):
        self.seconds = {}
        self.module = importlib.import_module("autodiff.runtime.function")
        for name, phase in self.PHASES.items():
            original = getattr(self.module, name, None)
            if original is not None:
                setattr(self.module, name, self._timed(original, phase))

    def _timed(self, fn, phase):
        def timed(*args, **kwargs):
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] = self.seconds.get(phase, 0.0) + clock() - t
        return timed


def measure_case(graph, n, kind, mode, trace):
    """The figures of one case as a dict (see the module docstring)."""
    import autodiff as ad
    timer = PhaseTimer()
    t0 = clock()
    y, variables = build_graph(graph, n)
    t1 = clock()
    outputs = with_gradient(y, variables) if kind == "grad" else [y]
    t2 = clock()
    result = {"build": t1 - t0, "grad": t2 - t1 if kind == "grad" else None}
    if trace:
        import tracemalloc
        tracemalloc.start()
    t = clock()
    f = ad.Function(outputs, simplify=(mode == "function"))
    result["plan"] = clock() - t
    if trace:
        result["plan_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        return result
    result["rewrite"] = timer.seconds.get("rewrite", 0.0)
    result["schedule"] = timer.seconds.get("schedule", 0.0)
    result["steps"] = len(f.steps)
    result["planned"] = f.planned_peak_bytes()
    for k in (1, 2, 3):
        t = clock()
        f()
        result[f"call{k}"] = clock() - t
    result["codegen"] = timer.seconds.get("codegen", 0.0)
    return result


def child_main(argv):
    global clock
    graph, n, kind, mode, trace, clock_name = argv
    clock = CLOCKS[clock_name]
    result = measure_case(graph, int(n), kind, mode, trace == "trace")
    print(json.dumps(result))


def run_child(case, trace, timeout, clock_name="wall"):
    """measure_case in a fresh process: its dict, or {"error": why}."""
    graph, n, kind, mode = case
    cmd = [sys.executable, os.path.abspath(__file__), "--child", graph, str(n), kind, mode,
           "trace" if trace else "time", clock_name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]
        return {"error": last[:60]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------

def summarize(runs):
    """{field: (median, min, max)} over the successful runs, or {"error": ...}."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": runs[0]["error"]}
    out = {}
    for key in good[0]:
        values = [r[key] for r in good if r.get(key) is not None]
        if values:
            out[key] = (statistics.median(values), min(values), max(values))
    made = [r["build"] + (r["grad"] or 0.0) for r in good]
    for key in ("plan", "schedule"):
        if key in out:
            ratios = [r[key] / m for r, m in zip(good, made)]
            out[key + "/build"] = (statistics.median(ratios), min(ratios), max(ratios))
    return out


def fmt(stat, digits=3, scale=1.0):
    """median, with [min-max] when they spread over 10% of it."""
    if stat is None:
        return "-"
    med, lo, hi = (v * scale for v in stat)
    text = f"{med:.{digits}g}"
    if med > 0 and (hi - lo) > 0.1 * med:
        text += f" [{lo:.{digits}g}-{hi:.{digits}g}]"
    return text


COLUMNS = [("build", "build"), ("grad", "grad"), ("plan", "plan"), ("rewrite", "rewrite"),
           ("schedule", "schedule"), ("plan/build", "plan/build"),
           ("schedule/build", "sched/build"), ("call1", "call 1"), ("call2", "call 2"),
           ("codegen", "codegen"), ("call3", "call 3")]


def table_lines(rows):
    """Two tables: times (seconds and ratios), then sizes and memory."""
    head = f"{'graph':<24}" + "".join(f"{label:>20}" for _, label in COLUMNS)
    lines = [head, "-" * len(head)]
    for name, s in rows:
        if "error" in s:
            lines.append(f"{name:<24}  {s['error']}")
            continue
        lines.append(f"{name:<24}" + "".join(f"{fmt(s.get(key)):>20}" for key, _ in COLUMNS))
    lines += ["", f"{'graph':<24}{'steps':>10}{'planned bytes':>16}{'plan MB (tracemalloc)':>24}",
              "-" * 74]
    for name, s in rows:
        if "error" in s:
            continue
        steps = f"{s['steps'][0]:.0f}" if "steps" in s else "-"
        planned = f"{s['planned'][0]:.0f}" if "planned" in s else "-"
        lines.append(f"{name:<24}{steps:>10}{planned:>16}{fmt(s.get('plan_mb')):>24}")
    return lines


def header():
    import numpy as np
    import autodiff
    try:
        commit = subprocess.run(["git", "-C", os.path.dirname(autodiff.__file__), "rev-parse",
                                 "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    return (f"autodiff from {os.path.dirname(autodiff.__file__)} (commit {commit}), "
            f"numpy {np.__version__}, python {sys.version.split()[0]}")


def run_table(args):
    print(header())
    print(f"seconds by the {args.clock} clock")
    cases = [(g, n, k, m) for n in args.sizes for g in args.graphs for k in args.kinds
             for m in args.modes]
    rows = []
    for case in cases:
        name = "{}-{} {} {}".format(case[0], _short(case[1]), case[2], case[3])
        runs = []
        for _ in range(args.repeats):
            runs.append(run_child(case, False, args.timeout, args.clock))
            if "error" in runs[-1]:
                break
        summary = summarize(runs)
        if "error" not in summary and not args.no_trace:
            traced = run_child(case, True, args.timeout * 3)
            if "error" not in traced:
                summary["plan_mb"] = (traced["plan_mb"],) * 3
        rows.append((name, summary))
        print(f"  {name}: " + (summary["error"] if "error" in summary else
                               f"plan {fmt(summary['plan'])} s, "
                               f"plan/build {fmt(summary['plan/build'])}"), flush=True)
    print()
    print("\n".join(table_lines(rows)))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump({"header": header(), "clock": args.clock,
                       "cases": {name: summary for name, summary in rows}}, handle, indent=1)
        print(f"written to {args.json}")


def _short(n):
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


# --- planned peaks of the benchmark and test graphs -----------------------------------

def peak_graphs():
    """{name: a function returning the Function whose planned peak is reported}."""
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "runtime"))
    graphs = {}
    for batch in (1, 32):
        graphs[f"w3 compiled b{batch}"] = lambda b=batch: _w3("autodiff_compiled", b)
        graphs[f"w3 modules b{batch}"] = lambda b=batch: _w3("autodiff_modules_compiled", b)
    for config in ("autodiff function", "autodiff function + checkpoint",
                   "autodiff function + segments"):
        for seq in (100, 1000):
            graphs[f"w6 {config[9:]} T={seq}"] = lambda c=config, s=seq: _w6(c, s)
    for block, ckpt, label in ((1, False, "plain"), (8, True, "blocks of 8"),
                               (1, True, "every layer")):
        graphs[f"checkpointing.py {label}"] = lambda b=block, c=ckpt: _mlp(b, c)
    for segment in (None, 10, 20):
        graphs[f"rnn 200 steps, segment {segment}"] = lambda s=segment: _rnn(s)
    for seed in range(60):
        graphs[f"random graph {seed}"] = lambda s=seed: _random(s)
    return graphs


def _w3(system, batch):
    import w3_char_rnn
    return _function_made_by(lambda: getattr(w3_char_rnn, system)(
        w3_char_rnn.make_problem(batch)))


def _w6(config, seq):
    import w6_memory
    return w6_memory.make_trainer(config, w6_memory.make_problem(seq)).f


def _mlp(block, checkpoint):
    import checkpointing
    layers = checkpointing.make_layers(64, 128, 0)
    return checkpointing.build(layers, block, checkpoint, 2048, 128)


def _rnn(segment):
    import test_schedule
    return test_schedule._rnn_gradient(200, 40, segment)[0]


def _random(seed):
    """A random DAG like tests/support/graphs.py draws, from a fixed seed."""
    import numpy as np
    import autodiff as ad
    rng = np.random.default_rng(seed)
    shapes = [(3,), (1, 3), (40, 3), (40, 1)]
    nodes = [ad.Variable(rng.standard_normal(s), name=f"v{i}") for i, s in enumerate(shapes)]
    for _ in range(int(rng.integers(5, 200))):
        kind = rng.integers(3)
        if kind == 0:
            picks = rng.integers(len(nodes), size=rng.integers(2, 8))
            nodes.append(ad.Add(*[nodes[i] for i in picks]))
        elif kind == 1:
            nodes.append(nodes[rng.integers(len(nodes))] * nodes[rng.integers(len(nodes))])
        else:
            nodes.append(ad.sin(nodes[rng.integers(len(nodes))]))
    picks = sorted({int(i) for i in rng.integers(len(nodes), size=4)} | {len(nodes) - 1})
    outputs = [nodes[i] for i in picks]
    if seed % 2:
        loss = ad.Add(*[ad.sum(o) for o in outputs])
        outputs = [loss, *ad.grad(loss, nodes[:4])]
    return ad.Function(outputs, simplify=bool(seed % 3))


def _function_made_by(make_system):
    """The Function a benchmark system builds (captured from ad.function)."""
    import autodiff as ad
    made, original = [], ad.function

    def capture(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]
    ad.function = capture
    try:
        make_system()
    finally:
        ad.function = original
    return made[-1]


def run_peaks(args):
    print(header())
    peaks = {}
    for name, make in peak_graphs().items():
        peaks[name] = int(make().planned_peak_bytes())
        if not name.startswith("random"):
            print(f"  {name:<44}{peaks[name]:>14}", flush=True)
    print(f"  {len([n for n in peaks if n.startswith('random')])} random graphs: total "
          f"{sum(v for n, v in peaks.items() if n.startswith('random'))} bytes")
    if args.save:
        with open(args.save, "w") as fh:
            json.dump(peaks, fh, indent=1)
    if args.compare:
        with open(args.compare) as fh:
            before = json.load(fh)
        grew = {n: (before[n], v) for n, v in peaks.items() if n in before and v > before[n]}
        shrank = {n: (before[n], v) for n, v in peaks.items() if n in before and v < before[n]}
        for n, (b, v) in shrank.items():
            print(f"  lower: {n}: {b} -> {v}")
        for n, (b, v) in grew.items():
            print(f"  GREW: {n}: {b} -> {v}")
        print(f"  against {args.compare}: {len(grew)} grew, {len(shrank)} lower, "
              f"{len(peaks) - len(grew) - len(shrank)} equal")
        return 1 if grew else 0
    return 0


# --- profiling ------------------------------------------------------------------------

def run_profile(spec):
    """cProfile one planning, ``graph:size:kind:mode``, and print the top entries."""
    import cProfile
    import pstats
    import autodiff as ad
    graph, n, kind, mode = spec.split(":")
    y, variables = build_graph(graph, int(n))
    outputs = with_gradient(y, variables) if kind == "grad" else [y]
    prof = cProfile.Profile()
    prof.enable()
    f = ad.Function(outputs, simplify=(mode == "function"))
    f()
    f()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--graphs", default=",".join(GRAPHS))
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a case may take before it is reported as such (default 300)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall (default) or cpu: this process's CPU time, less noisy on a "
                        "busy machine (it leaves out waiting for a core)")
    p.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    p.add_argument("--peaks", action="store_true")
    p.add_argument("--save")
    p.add_argument("--compare")
    p.add_argument("--profile")
    p.add_argument("--json", help="also write the table's figures to this JSON file")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.graphs, args.kinds, args.modes = (v.split(",") for v in (args.graphs, args.kinds,
                                                                  args.modes))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child_main(argv[1:])
    args = parse(argv)
    if args.profile:
        return run_profile(args.profile)
    if args.peaks:
        return run_peaks(args)
    return run_table(args)


if __name__ == "__main__":
    sys.exit(main())
