"""Where a rebuilt step's time goes: build, grad, plan, evaluate, phase by phase.

    PYTHONPATH=$PWD python benchmarks/rebuild_phases.py     # W3b1, W3b32, W2; 5 rounds
    python benchmarks/rebuild_phases.py --rounds 2 --steps 10 --json /tmp/quick.json
    git worktree add ../before 082cb2c --detach       # the code before issue 13's work
    PYTHONPATH=../before python benchmarks/rebuild_phases.py \\
        --json benchmarks/results/rebuild_phases_before.json
    python benchmarks/rebuild_phases.py --compare benchmarks/results/rebuild_phases_before.json \\
        benchmarks/results/rebuild_phases.json            # the before/after table

The step is the "autodiff dynamic" system of benchmarks/w3_char_rnn.py and w2_mlp.py (the
graph rebuilt, differentiated and evaluated every step, PyTorch-eager style), written out
with a clock between its parts:

* build: the forward graph (the workload's own `_ad_rnn` / `_ad_loss`);
* grad: ``ad.grad(loss, params)`` (from the third step on, in code that has it, a copy
  of the derivative graph the rules built: transforms/grad_reuse.py);
* plan: all of ``ad.evaluate([loss, *grads, ...])`` but running the kernels: traversal,
  and either making the plan (rewriting when "auto" asks for it, steps, order, slots,
  kernels bound to nodes) or finding it in the plan cache (graph signature and lookup;
  for a derivative graph `grad` copied, the order and key it handed over) and binding
  the new graph's kernels to it; loading leaves and copying outputs too.
  "of which bind, load, copy" is the part spent in the runtime's method that runs a plan
  (``Function.__call__`` in code without a plan cache, which plans a new Function every
  step; ``Function.rebind`` or ``Function._run`` in code with one) outside the step loop;
* evaluate: running the kernels, ``Function._run_kernels`` (the step loop on a plan's
  first run, then generated code; a cached plan runs the new graph's kernels in the same
  code), or ``Function._run_steps`` in code without it (the step loop every time, with a
  cached plan also its shape and dtype checks);
* update: clipping and Adagrad (W3) or SGD (W2) in numpy, the same code as numpy by hand;
* total: the whole instrumented step.

How plan and evaluate are split: those runtime methods are wrapped (on the class, for the
whole run) with a wall clock that adds up the time spent inside them; evaluate is the time
inside ``_run_kernels`` (or ``_run_steps``), plan the rest of the ``ad.evaluate`` call.
Both checkouts have a ``Function`` class in ``autodiff.runtime``; the script picks the
methods that exist. This is not cProfile: a profiler slows Python-heavy planning far more
than numpy's kernels and would distort the split, while the wrappers cost two clock reads
per call. Garbage collection runs in whichever phase allocates when it triggers (mostly
build and grad); a kernel's own preparation done when it is called counts as evaluate.

Rows also give "step, unsplit": the benchmark's own "autodiff dynamic" step timed as a
whole (no clocks between its phases; the runtime's wrappers stay), a check that the clocks
do not change the total; and numpy by hand. The three are interleaved in turns of
`--block` steps (order rotated each round), with the garbage collector run between turns
as benchmarks/harness.py does. Figures are medians over all steps of all rounds; "x numpy"
is each round's median over numpy by hand's median in the same round, the median over
rounds (with their range). Medians of the phases need not add up to the median total.
Before timing, the first losses of both autodiff steps are compared with numpy by hand's.
"""
import argparse
import datetime
import gc
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # imports no numerical library: threads are set before numpy loads

WORKLOADS = ("W3b1", "W3b32", "W2")
PHASES = ("build", "grad", "plan", "bind", "evaluate", "update", "total")
ROWS = PHASES + ("step, unsplit", "numpy by hand")
LABELS = {"bind": "of which bind, load, copy"}


# --- the clock inside ad.evaluate ----------------------------------------------------

def instrument(Function):
    """Wrap the methods of the runtime's `Function` that run a plan; returns the dict
    in which they add up seconds ("run": running a plan, "loop": its step loop) and count
    the plans made."""
    inside = {"run": 0.0, "loop": 0.0, "plans": 0}
    # with a plan cache, a reused plan runs through rebind and a new one through _run
    # (CompiledFunction.__call__ calls it); without one, __call__ runs the plan
    running = ("rebind", "_run") if hasattr(Function, "rebind") else ("__call__",)
    for name in running:
        _add_time(Function, name, inside, "run")
    kernels = "_run_kernels" if hasattr(Function, "_run_kernels") else "_run_steps"
    _add_time(Function, kernels, inside, "loop")
    plan = Function._plan

    def counted(self, *args, **kwargs):
        inside["plans"] += 1
        return plan(self, *args, **kwargs)

    Function._plan = counted
    return inside


def _add_time(cls, name, inside, key):
    original = getattr(cls, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inside[key] += time.perf_counter() - t0

    setattr(cls, name, timed)


def phased_step(ad, inside, params, forward, update):
    """One rebuilt step with a clock between its phases: `forward()` builds the graph and
    returns (loss, extra output nodes); `update(grad_values, extra_values)` applies the
    optimiser. Returns a step function giving ({phase: seconds}, loss value)."""
    def step():
        t0 = time.perf_counter()
        loss, extra = forward()
        t1 = time.perf_counter()
        grads = ad.grad(loss, params)
        t2 = time.perf_counter()
        run0, loop0 = inside["run"], inside["loop"]
        loss_value, *values = ad.evaluate([loss, *grads, *extra])
        t3 = time.perf_counter()
        update(values[:len(params)], values[len(params):])
        t4 = time.perf_counter()
        loop = inside["loop"] - loop0
        return {"build": t1 - t0, "grad": t2 - t1, "plan": t3 - t2 - loop,
                "bind": inside["run"] - run0 - loop, "evaluate": loop,
                "update": t4 - t3, "total": t4 - t0}, loss_value
    return step


def whole_step(step):
    """A benchmark System's step, timed as a whole: ({"total": seconds}, loss)."""
    def timed():
        t0 = time.perf_counter()
        loss = step()
        return {"total": time.perf_counter() - t0}, loss
    return timed


# --- workloads -----------------------------------------------------------------------

def w3_systems(ad, inside, batch):
    """numpy by hand, the benchmark's autodiff dynamic, and it with phases, for W3."""
    import numpy as np
    import w3_char_rnn as w3
    pb = w3.make_problem(batch)
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(pb["params"], w3.NAMES)]
    mems = [np.zeros_like(p) for p in pb["params"]]
    st = w3._State(batch)

    def forward():
        i = st.next()
        loss, h_last = w3._ad_rnn(ad, params, pb["xs"][i], pb["ys"][i], st.h, batch)
        return loss, [h_last]

    def update(grad_values, extra):
        st.h = extra[0]  # carried to the next step, as data
        values = [p.value for p in params]
        w3._clip_adagrad(values, grad_values, mems)
        for p, v in zip(params, values):
            p.value = v

    return {"numpy by hand": whole_step(w3.numpy_by_hand(pb).step),
            "step, unsplit": whole_step(w3.autodiff_dynamic(pb).step),
            "phases": phased_step(ad, inside, params, forward, update)}


def w2_systems(ad, inside):
    """numpy by hand, the benchmark's autodiff dynamic, and it with phases, for W2."""
    import w2_mlp as w2
    problem = w2.make_problem()
    params0, xs, ys, _ = problem
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(params0, w2.NAMES)]
    cyc = w2._Cycle()

    def forward():
        i = cyc.next()
        return w2._ad_loss(ad, params, xs[i], ys[i]), []

    def update(grad_values, extra):
        for p, g in zip(params, grad_values):
            p.value -= w2.LR * g

    return {"numpy by hand": whole_step(w2.numpy_by_hand(problem).step),
            "step, unsplit": whole_step(w2.autodiff_dynamic(problem).step),
            "phases": phased_step(ad, inside, params, forward, update)}


# --- measuring -----------------------------------------------------------------------

def check(systems, steps=3, tol=1e-8):
    """The first losses of the instrumented step against numpy by hand's (the same
    start, the same batches): the largest relative difference, raising above `tol`."""
    worst = 0.0
    for _ in range(steps):
        _, ref = systems["numpy by hand"]()
        for name in ("phases", "step, unsplit"):
            _, loss = systems[name]()
            worst = max(worst, abs(float(loss) - float(ref)) / abs(float(ref)))
    if worst > tol:
        raise RuntimeError(f"losses differ from numpy by hand's by {worst:.1e}")
    return worst


def measure(systems, rounds, steps, block, warmup):
    """Warm up, then interleaved rounds: {system: [[{phase: s} per step] per round]}."""
    for step in systems.values():
        for _ in range(warmup):
            step()
    names = list(systems)
    records = {name: [[] for _ in range(rounds)] for name in names}
    # as harness.measure: what is alive now is frozen, so collecting between turns is
    # cheap and no system pays for another's garbage
    gc.collect()
    gc.freeze()
    try:
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for turn in range(-(-steps // block)):
                for name in order:
                    gc.collect()
                    n = min(block, steps - turn * block)
                    record, step = records[name][r], systems[name]
                    for _ in range(n):
                        record.append(step()[0])
    finally:
        gc.unfreeze()
    return records


def summarize(records):
    """Per row: median ms over all steps, per-round medians, ratios to numpy by hand."""
    series = {}  # row -> [[seconds per step] per round]
    for phase in PHASES:
        series[phase] = [[rec[phase] for rec in rnd] for rnd in records["phases"]]
    for name in ("step, unsplit", "numpy by hand"):
        series[name] = [[rec["total"] for rec in rnd] for rnd in records[name]]
    ref = [statistics.median(r) for r in series["numpy by hand"]]
    rows = {}
    for row, rounds in series.items():
        medians = [statistics.median(r) for r in rounds]
        ratios = [m / rm for m, rm in zip(medians, ref)]
        rows[row] = {"median_ms": statistics.median([t for r in rounds for t in r]) * 1e3,
                     "round_medians_ms": [m * 1e3 for m in medians],
                     "ratio": statistics.median(ratios),
                     "round_ratios": ratios}
    return rows, {row: [[round(t * 1e3, 4) for t in r] for r in rounds]
                  for row, rounds in series.items()}


# --- tables --------------------------------------------------------------------------

def _ms(ms):
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def run_table(result):
    """Markdown: phase x workload, ms and ratio to numpy by hand (ratio range)."""
    keys = list(result["workloads"])
    lines = ["| phase | " + " | ".join(f"{k} ms | {k} x numpy" for k in keys) + " |",
             "|---|" + "---:|---:|" * len(keys)]
    for row in ROWS:
        cells = []
        for k in keys:
            e = result["workloads"][k]["rows"][row]
            rr = e["round_ratios"]
            cells.append(f"{_ms(e['median_ms'])} | {e['ratio']:.2f} "
                         f"({min(rr):.2f}-{max(rr):.2f})")
        lines.append(f"| {LABELS.get(row, row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_table(before, after):
    """Markdown: phase x workload, before and after, ms and ratio to numpy by hand; the
    change is taken from the ratios, which cancel most of the drift between two runs."""
    lines = ["| workload | phase | before ms | after ms | before x numpy | after x numpy "
             "| before / after (x numpy) |", "|---|---|---:|---:|---:|---:|---:|"]
    for key in after["workloads"]:
        if key not in before["workloads"]:
            continue
        b, a = before["workloads"][key]["rows"], after["workloads"][key]["rows"]
        for row in ROWS:
            lines.append(f"| {key} | {LABELS.get(row, row)} | {_ms(b[row]['median_ms'])} | "
                         f"{_ms(a[row]['median_ms'])} | {b[row]['ratio']:.2f} | "
                         f"{a[row]['ratio']:.2f} | {b[row]['ratio'] / a[row]['ratio']:.1f}x |")
    notes = []
    for name, res in (("before", before), ("after", after)):
        env = res["environment"]
        notes.append(f"{name}: autodiff {env.get('git_commit', '?')} "
                     f"({env.get('autodiff_path')}), {res['date']}, load average "
                     f"{res['loadavg_start'][0]:.2f} -> {res['loadavg_end'][0]:.2f}, "
                     f"{res['args']['rounds']} rounds x {res['args']['steps']} steps")
    return "\n".join(lines + [""] + notes)


# --- command line --------------------------------------------------------------------

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=100, help="timed steps per system per round")
    p.add_argument("--block", type=int, default=5, help="steps per turn")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=os.path.join(HERE, "results", "rebuild_phases.json"))
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                   help="print the before/after table of two results files; no timing")
    args = p.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.compare:
        with open(args.compare[0]) as fb, open(args.compare[1]) as fa:
            print(compare_table(json.load(fb), json.load(fa)))
        return 0
    harness.set_threads(args.threads)  # before numpy is imported
    import autodiff as ad
    from autodiff.runtime import Function
    inside = instrument(Function)
    env = harness.environment()
    print(f"rebuilt-step phases: autodiff at {env.get('git_commit', '?')}"
          f"{' + uncommitted changes in autodiff/' if env.get('autodiff_dirty') else ''}"
          f" ({env.get('autodiff_path')}); numpy {env['numpy']}, BLAS threads "
          f"{[p['num_threads'] for p in env.get('blas_pools', [])]}; load average "
          f"{env['loadavg'][0]:.2f} on {env['cpu_count']} CPUs")
    print(f"{args.rounds} rounds x {args.steps} steps per system, turns of {args.block}; "
          f"plan/evaluate split by wall clocks on Function methods (see docstring)")
    result = {"command": "python benchmarks/rebuild_phases.py "
                         + " ".join(sys.argv[1:] if argv is None else argv),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "args": vars(args), "environment": env, "loadavg_start": env["loadavg"],
              "workloads": {}}
    for key in args.workloads:
        t0 = time.perf_counter()
        systems = w2_systems(ad, inside) if key == "W2" else w3_systems(ad, inside, int(key[3:]))
        worst = check(systems)
        plans = inside["plans"]
        records = measure(systems, args.rounds, args.steps, args.block, args.warmup)
        made = inside["plans"] - plans  # plans made while warming up and timing
        rows, times = summarize(records)
        evaluated = len(systems) - 1  # systems calling ad.evaluate, each step
        result["workloads"][key] = {
            "rows": rows, "loss_check_rel_err": worst,
            "plans_per_evaluate": made / (evaluated * (args.warmup + args.rounds * args.steps)),
            "times_ms": times, "seconds": time.perf_counter() - t0}
        print(f"{key}: loss check {worst:.1e}, plans made per ad.evaluate "
              f"{result['workloads'][key]['plans_per_evaluate']:.2f}, "
              f"{time.perf_counter() - t0:.0f} s")
    result["loadavg_end"] = list(os.getloadavg())
    print()
    print(run_table(result))
    print(f"\nload average at the end {result['loadavg_end'][0]:.2f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
