"""Regenerate the figures and tables of README.md from the code and from result files.

Every generated part of the README sits between two markers naming its section::

    <!-- figure tanh-sizes: python scripts/readme_figures.py -->
    ...generated text...
    <!-- end figure -->

Run ``python scripts/readme_figures.py`` to rewrite every section from what the code
produces today (sections computed from the code) or from the result files the benchmark
and example scripts write (sections from measurements, whose command the README states).
``--check`` rewrites nothing and exits 1 listing the sections that are stale;
``--sections a,b`` limits the work to those sections.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from higher_order_tanh import size_table  # noqa: E402  (the example beside the package)
from rebuild_phases import compare_table  # noqa: E402  (the benchmark's own table)

MARKER = re.compile(r"(<!-- figure (?P<name>[\w-]+):[^>]*-->\n)(?P<body>.*?)(<!-- end figure -->)",
                    re.S)


def tanh_sizes():
    """Graph sizes (distinct nodes) of the n-th derivative of tanh, orders 1 to 10, by
    three routes; computed by examples/higher_order_tanh.py's `size_table`."""
    lines = ["| order | nested `grad` | nested `grad` + `simplify` | `derivative(y, x, n)` |",
             "|---|---|---|---|"]
    for n, derivative, nested, simplified, _ in size_table(10):
        lines.append(f"| {n} | {nested} | {simplified} | {derivative} |")
    return "\n".join(lines) + "\n"


def benchmark_results(name):
    """The results file of a benchmark run the README quotes (committed beside the
    benchmarks so that the tables can be regenerated and checked)."""
    path = os.path.join(ROOT, "benchmarks", "results", f"{name}.json")
    with open(path) as f:
        return json.load(f)


def newton_logistic():
    """The full run of examples/newton_logistic.py (its JSON, copied to
    benchmarks/results/newton_logistic.json)."""
    r = benchmark_results("newton_logistic")
    per_iteration = [i["seconds"] for i in r["iterations"]]
    rows = [
        ("data", f"{r['rows']:,} rows x {r['features']} features, {r['data_gib']:.1f} GiB, "
                 f"made in blocks of {r['chunk']:,} rows on the workers"),
        ("cluster", f"{r['workers']} worker processes, {r['memory_limit']} each "
                    f"(the data is {r['data_over_limit']:.1f}x one worker's limit)"),
        ("Newton iterations", f"{len(r['iterations'])}, {r['seconds']:.0f} s "
                              f"({min(per_iteration):.0f}-{max(per_iteration):.0f} s each: "
                              "one pass over the data for loss, gradient and Hessian)"),
        ("peak memory per worker", ", ".join(f"{p:.0f} MiB" for p in r["worker_peak_mib"])
         + " (" + ", ".join(f"{p:.0f}" for p in r["worker_baseline_mib"])
         + " MiB at start)"),
        ("dask vs numpy backend, same 1M-row sample", f"{r['dask_vs_numpy_on_sample']:.1e}"),
        ("scikit-learn (unpenalised) vs numpy backend, sample",
         f"{r['sklearn_vs_numpy_on_sample']:.1e}"),
        ("all rows vs the true coefficients", f"{r['full_vs_true_in_se']:.2f} standard errors"),
        ("all rows vs the 1M-row sample's fit", f"{r['full_vs_sample']:.1e} "
         f"({r['full_vs_sample_in_se']:.2f} standard errors of the sample's fit)"),
    ]
    return "| | |\n|---|---|\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)


def dask_gradient():
    """benchmarks/dask_gradient.py's last full run: the logistic-regression gradient on
    the dask backend (threads) against numpy by hand."""
    r = benchmark_results("dask_gradient")
    lines = [f"Gradient of the logistic loss, {r['rows']:,} x {r['features']} in memory, "
             f"median over {r['rounds']} interleaved rounds (load {r['load']:.1f} on "
             f"{r['cpus']} CPUs):", "",
             "| system | x numpy by hand (median) | range over rounds |", "|---|---|---|"]
    for row in r["results"]:
        lines.append(f"| {row['system']} | {row['ratio']:.2f} | "
                     f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f} |")
    return "\n".join(lines) + "\n"


def _workload(results, key):
    return next(r for r in results["results"] if r["key"] == key)


def _ratio(entry):
    """'median (min-max)' of a system's per-round ratios to numpy by hand."""
    if entry is None or "ratio" not in entry:
        return ""
    low, high = min(entry["round_ratios"]), max(entry["round_ratios"])
    return f"{entry['ratio']:.2f} ({low:.2f}-{high:.2f})"


def _bench_header(results):
    env = results["environment"]
    return (f"`{results['command']}`, {results['date'][:10]}, autodiff at "
            f"{env.get('git_commit', '?')[:7]}; numpy {env['numpy']}, "
            + ", ".join(f"{k} {env[k]}" for k in ("torch", "jax", "autograd") if k in env)
            + f"; {env['cpu_count']} CPUs, one BLAS thread; load average "
            f"{results['environment_at_start']['loadavg'][0]:.1f} at the start.")


#: (column title, system names in benchmarks/run.py's results, tried in order)
STEP_COLUMNS = [
    ("autodiff compiled", ["autodiff compiled"]),
    ("autodiff rebuilt each step", ["autodiff dynamic"]),
    ("`nn` modules compiled / rebuilt", ["autodiff modules compiled", "autodiff modules dynamic"]),
    ("autodiff `scan`", ["autodiff scan"]),
    ("autodiff jax backend (compile s)", ["autodiff jax"]),
    ("PyTorch", ["torch"]),
    ("JAX (jit)", ["jax (jit)"]),
    ("HIPS autograd", ["autograd", "autograd (pairwise einsum)"]),
]
STEP_ROWS = [("W2", "W2 MLP 784-256-256-10, batch 128"), ("W3b1", "W3 char-RNN, batch 1"),
             ("W3b32", "W3 char-RNN, batch 32"), ("W4", "W4 100x100 Hessian"),
             ("W5", "W5 3-operand einsum gradient")]


def bench_steps():
    """Ratios to numpy by hand per step, from benchmarks/results/latest.json."""
    results = benchmark_results("latest")
    lines = [_bench_header(results), "",
             "| workload | " + " | ".join(title for title, _ in STEP_COLUMNS) + " |",
             "|---" * (len(STEP_COLUMNS) + 1) + "|"]
    for key, title in STEP_ROWS:
        workload = _workload(results, key)
        summary = {("autodiff compiled" if name == "autodiff" else name): entry
                   for name, entry in workload["summary"].items()}
        cells = []
        for column, names in STEP_COLUMNS:
            if column.startswith("`nn`"):
                cell = " / ".join(_ratio(summary.get(n)) for n in names if n in summary)
            else:
                cell = next((_ratio(summary[n]) for n in names if n in summary), "")
            compiled = workload.get("compile", {}).get("autodiff jax")
            if names == ["autodiff jax"] and cell and compiled:
                cell += f"; {compiled['seconds']:.2f} s"
            cells.append(cell)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bench_higher():
    """The 10th derivatives of W1 and W1b: evaluation against the closed form or Taylor
    reference, and graph sizes, from benchmarks/results/latest.json."""
    results = benchmark_results("latest")
    systems = [("autodiff `derivative`", "autodiff derivative"),
               ("autodiff nested `grad`", "autodiff nested grad"),
               ("autodiff jax backend", "autodiff jax"), ("PyTorch", "torch"),
               ("JAX (jit)", "jax (jit)"), ("HIPS autograd", "autograd")]
    lines = ["| n = 10 | " + " | ".join(t for t, _ in systems) + " |",
             "|---" * (len(systems) + 1) + "|"]
    for key, title in (("W1", "W1: tanh(x)"), ("W1b", "W1b: sin(sin(sin x))")):
        data = _workload(results, key)["data"]
        cells = []
        for _, name in systems:
            entry = data.get(f"{name} n=10")
            if entry is None or "ratio" not in entry:
                cells.append("left out (over the time cap)")
            elif entry.get("wrong"):
                cells.append("wrong values")
            else:
                size = f", {entry['size']:,} nodes" if entry.get("size") else ""
                ratio = entry["ratio"]
                cells.append((f"{ratio:.2f}x" if ratio < 100 else f"{ratio:,.0f}x") + size)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bench_memory():
    """W6: peak memory growth of one training step over 1,000 characters, and time, from
    benchmarks/results/latest.json."""
    workload = _workload(benchmark_results("latest"), "W6")
    memory = workload["data"]["memory"]
    described = {"numpy_by_hand": "numpy by hand (keeps h and softmax for every step)",
                 "autodiff function": "`ad.function`",
                 "autodiff function + checkpoint": "`ad.function`, every cell checkpointed",
                 "autodiff function + segments": "`ad.function`, 32-step segments checkpointed",
                 "autodiff keep-all": "every intermediate kept (no freeing)",
                 "torch": "PyTorch eager"}
    lines = ["| configuration | traced (tracemalloc) | RSS growth | time vs numpy by hand |",
             "|---|---|---|---|"]
    for name, title in described.items():
        m = memory.get(name)
        if m is None:
            continue
        traced = "(own allocator)" if name == "torch" else f"{m['traced_bytes'] / 1e6:.1f} MB"
        lines.append(f"| {title} | {traced} | {m['rss_bytes'] / 1e6:.1f} MB | "
                     f"{_ratio(workload['summary'].get(name))} |")
    return "\n".join(lines) + "\n"


def rebuild_phases():
    """Where a step rebuilt every time spends its time, phase by phase, before issue 13's
    work and now (benchmarks/rebuild_phases.py's two results files)."""
    return compare_table(benchmark_results("rebuild_phases_before"),
                         benchmark_results("rebuild_phases")) + "\n"


#: section name -> function returning the section's text (computed, or read from results)
SECTIONS = {"tanh-sizes": tanh_sizes, "newton-logistic": newton_logistic,
            "dask-gradient": dask_gradient, "bench-steps": bench_steps,
            "bench-higher": bench_higher, "bench-memory": bench_memory,
            "rebuild-phases": rebuild_phases}
#: the sections computed from the code alone (cheap and exact: tests check them)
COMPUTED = {"tanh-sizes"}


def generated_sections(text):
    """{name: current body} of the README's generated sections."""
    return {m.group("name"): m.group("body") for m in MARKER.finditer(text)}


def render(text, names):
    """`text` with the sections in `names` regenerated."""
    def replace(match):
        name = match.group("name")
        if name not in names:
            return match.group(0)
        return match.group(1) + SECTIONS[name]() + match.group(4)
    return MARKER.sub(replace, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1, listing stale sections, instead of rewriting")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default all: {', '.join(SECTIONS)})")
    args = parser.parse_args(argv)
    names = [n for n in args.sections.split(",") if n]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; known: {sorted(SECTIONS)}")
    with open(README) as f:
        text = f.read()
    missing = [n for n in names if n not in generated_sections(text)]
    if missing:
        parser.error(f"README.md has no marked section for {missing}")
    new = render(text, names)
    if args.check:
        stale = [n for n in names
                 if generated_sections(new)[n] != generated_sections(text)[n]]
        if stale:
            print("stale README sections: " + ", ".join(stale))
            return 1
        print("README sections up to date: " + ", ".join(names))
        return 0
    if new != text:
        with open(README, "w") as f:
            f.write(new)
    print("regenerated: " + ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
