"""Run the autodiff benchmarks: ``python benchmarks/run.py [options]``.

    --workloads W1,W2,...  which workloads (default all: W1, W1b, W2, W3, W4, W5, W6; W3 means
                           both batch sizes, W3b1 and W3b32 pick one)
    --rounds N             interleaved rounds per workload (default 5; --quick: 2)
    --quick                fewer steps, for a smoke run under a minute
    --json PATH            where to write the results (default benchmarks/results/latest.json)
    --threads N            threads for every library (default 1)
    --block N              steps a system runs per turn before the next takes over (default 5)
    --budget S             seconds per system per round; a slower system runs fewer steps
                           (at least 10, --quick 3) so the run stays bounded (default 8)
    --skip NAMES           systems to leave out: torch, jax, autograd, "autodiff dynamic", ...
    --profile SYSTEM       after the checks, cProfile SYSTEM (e.g. "autodiff dynamic") on
                           each selected workload and print the top entries; no timing
    --cell-cap S           W1/W1b: leave out the higher orders of a system once building and
                           evaluating the next order is predicted to take over S seconds
                           (default 20; --quick 0.5)

See benchmarks/README.md for how to read the table.
"""
import argparse
import datetime
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402  (imports no numerical library: threads are set first)

WORKLOADS = ("W1", "W1b", "W2", "W3b1", "W3b32", "W4", "W5", "W6")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W1b,W2,W3,W4,W5,W6")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--block", type=int, default=5)
    p.add_argument("--skip", default="")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per system per round before a slow system's steps are cut "
                        "(default 8; --quick 0.5; 0 = no cap)")
    p.add_argument("--profile", default=None)
    p.add_argument("--profile-steps", type=int, default=20)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--cell-cap", type=float, default=None,
                   help="W1/W1b: seconds a system may spend on one derivative order "
                        "(build + evaluations) before higher orders are left out "
                        "(default 20; --quick 0.5)")
    args = p.parse_args(argv)
    wanted = []
    for w in (x.strip() for x in args.workloads.split(",") if x.strip()):
        w = w.upper().replace("B", "b")
        expanded = ["W3b1", "W3b32"] if w == "W3" else [w]
        for e in expanded:
            if e not in WORKLOADS:
                p.error(f"unknown workload {w!r}; choose from W1, W1b, W2, W3, W3b1, W3b32, "
                        f"W4, W5, W6")
            if e not in wanted:
                wanted.append(e)
    args.workloads = wanted
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.budget is None:
        args.budget = 0.5 if args.quick else 8.0
    if args.cell_cap is None:
        args.cell_cap = 0.5 if args.quick else 20.0
    args.skip = [s.strip() for s in args.skip.split(",") if s.strip()]
    return args


def build(key, args):
    skip = set(args.skip)
    if key == "W2":
        import w2_mlp
        return w2_mlp.build(quick=args.quick, skip=skip)
    if key.startswith("W3"):
        import w3_char_rnn
        return w3_char_rnn.build(int(key[3:]), quick=args.quick, skip=skip)
    if key == "W5":
        import w5_einsum
        return w5_einsum.build(quick=args.quick, skip=skip)
    if key in ("W1", "W1b"):
        import w1_higher_order
        return w1_higher_order.build(key, quick=args.quick, skip=skip)
    if key == "W4":
        import w4_hessian
        return w4_hessian.build(quick=args.quick, skip=skip)
    if key == "W6":
        import w6_memory
        return w6_memory.build(quick=args.quick, skip=skip)
    raise KeyError(key)


def release_earlier_workloads():
    """Start each workload as its own program would. The graphs earlier workloads left
    in autodiff's caches are let go: `evaluate` keeps the graph each cached plan was made
    on, and W1's derivatives up to order 10 leave about 100 MB of them. Kept, they slow a
    later rebuilt step by a few percent (W3 batch 32 rebuilt: 1.94x numpy when run alone,
    2.03x after W1 and W1b), so a workload's figures would depend on which ran first."""
    import gc
    try:
        from autodiff.runtime import clear_plan_cache
        from autodiff.transforms import grad_reuse
    except ImportError:
        return  # no autodiff: its systems report that themselves
    clear_plan_cache()
    grad_reuse.clear()
    gc.collect()


def _run_standard(wl, args, results, checks, t0):
    """Check, then time in interleaved rounds (or profile): one timed step per system."""
    for s in list(wl.systems):
        if s.name != harness.REFERENCE and s.name in args.skip:
            wl.systems.remove(s)
    checks[wl.key] = harness.verify(wl, tol=args.tol)
    if args.profile:
        target = [s for s in wl.systems if s.name == args.profile]
        if not target:
            print(f"  no system named {args.profile!r} here "
                  f"(have: {', '.join(s.name for s in wl.systems)})")
        for s in target:
            for _ in range(wl.warmup):
                s.step()
            harness.profile(s, args.profile_steps)
        return
    times = harness.measure(wl, args.rounds, args.block, budget=args.budget or None,
                            min_steps=3 if args.quick else 10,
                            min_warmup=1 if args.quick else 2)
    summary = harness.summarize(times)
    extra = list(wl.extra_lines)
    if wl.report is not None:
        extra += wl.report(summary)
    results.append({"key": wl.key, "title": wl.title, "steps": wl.steps, "unit": wl.unit,
                    "warmup": wl.warmup, "rounds": args.rounds, "block": args.block,
                    "budget": args.budget, "steps_per_round": wl.steps_per_round,
                    "notes": wl.notes, "summary": summary, "extra_lines": extra,
                    "compile": {s.name: s.compile for s in wl.systems if s.compile},
                    "data": getattr(wl, "data", None),
                    "times_ms": {k: [[t * 1e3 for t in r] for r in v]
                                 for k, v in times.items()},
                    "wall_s": time.perf_counter() - t0})
    print(f"  {wl.key} took {time.perf_counter() - t0:.0f} s")


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    harness.set_threads(args.threads)
    harness.skip_peers(s for s in args.skip if s in ("torch", "jax", "autograd"))
    t_start = time.perf_counter()
    results, checks = [], {}
    print(f"autodiff benchmarks: workloads {', '.join(args.workloads)}, {args.rounds} rounds, "
          f"{args.threads} thread(s), float64{', quick' if args.quick else ''}")
    env = env_start = harness.environment()
    if "git_commit" in env:
        print(f"autodiff {env['autodiff']} at {env['git_commit']}"
              f"{' + uncommitted changes in autodiff/' if env['autodiff_dirty'] else ''}"
              f" ({env['autodiff_path']}); numpy {env['numpy']}, BLAS threads "
              f"{[p['num_threads'] for p in env.get('blas_pools', [])]}")
    else:
        print(f"autodiff {env['autodiff']} from {env.get('autodiff_path')}")
    if env.get("loadavg"):
        print(f"load average {env['loadavg'][0]:.2f} on {env['cpu_count']} CPUs "
              f"(other work on the machine shows up as spread)")
    for key in args.workloads:
        t0 = time.perf_counter()
        release_earlier_workloads()
        wl = build(key, args)
        print(f"\n{wl.key}  {wl.title}")
        if isinstance(wl, harness.CustomWorkload):
            if args.profile:
                print(f"  --profile does not apply to {wl.key}; skipped")
                continue
            result = wl.run(args, print)
            checks[wl.key] = result.pop("checks", [])
            result.update(key=wl.key, title=wl.title, rounds=args.rounds,
                          wall_s=time.perf_counter() - t0)
            results.append(result)
            print(f"  {wl.key} took {time.perf_counter() - t0:.0f} s")
            continue
        try:
            _run_standard(wl, args, results, checks, t0)
        finally:
            if wl.close is not None:
                wl.close()
    if args.profile:
        return 0
    print("\n" + "=" * 100)
    print("median time per step (ms); spread = (max - min) / median of the per-round medians; "
          "ratio = time / numpy_by_hand within each round, median over rounds")
    print(harness.format_table(results))
    total = time.perf_counter() - t_start
    env = harness.environment()
    print(f"\nversions: numpy {env['numpy']}, " + ", ".join(
        f"{k} {env[k]}" for k in ("torch", "jax", "autograd") if k in env)
        + f"; threads {env['threads']}")
    print(f"load average at the end {env['loadavg'][0]:.2f}" if env.get("loadavg") else "")
    print(f"total {total:.0f} s")
    record = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items()},
        "environment": env,
        "environment_at_start": env_start,
        "checks": {k: [{kk: vv for kk, vv in r.items() if kk != "traceback"} for r in v]
                   for k, v in checks.items()},
        "results": results,
        "total_s": total,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(record, fh, indent=1, default=_jsonable)
    os.replace(tmp, args.json)
    print(f"wrote {args.json}")
    return 0


def _jsonable(value):
    try:
        return float(value)
    except Exception:
        return str(value)


if __name__ == "__main__":
    sys.exit(main())
