"""The dask backend's gradient throughput on the threaded scheduler, against numpy by hand.

The workload: the loss and gradient of logistic regression (mean binary cross-entropy of
``X @ beta``) on data that fits in memory, X of 2,000,000 x 20 (320 MB; --quick 400,000).
Systems, timed in one run, interleaved (A B C ... then the order rotated) over rounds:

* `numpy_by_hand`: ``z = X @ beta``, the stable loss, ``X.T @ (sigmoid(z) - y) / n``;
  numpy's BLAS uses the machine's threads as it does by default;
* `dask, chunks of N`: ``ad.function([loss, gradient], backend="dask", chunks=N)`` on the
  same numpy arrays (cut into chunks at each call), dask's default threaded scheduler;
* `dask, chunks of N, BLAS 1 thread`: the same with BLAS limited to one thread while dask
  runs (threadpoolctl), so dask's threads do not compete with BLAS's own.

Every system's values are checked against numpy by hand first (1e-12, relative). Printed:
per system the median seconds per gradient, and the ratio to numpy by hand computed within
each round, as the median over rounds with its range. Results go to
benchmarks/results/dask_gradient.json (the README's table is generated from it by
``python scripts/readme_figures.py``).

Run: python benchmarks/dask_gradient.py [--rows 2000000] [--rounds 5] [--quick]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402
from autodiff import nn  # noqa: E402

FEATURES = 20
CHUNKS = (50_000, 100_000, 250_000, 500_000)


def by_hand(x, y, beta):
    z = x @ beta
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    s = 0.5 * (1 + np.tanh(0.5 * z))
    return loss, x.T @ (s - y) / len(y)


def autodiff_gradient(rows, chunks, beta):
    x = ad.Variable.placeholder((rows, FEATURES), np.float64, name="X")
    y = ad.Variable.placeholder((rows,), np.float64, name="y")
    b = ad.Variable(beta, name="beta")
    loss = nn.binary_cross_entropy_with_logits(x @ b, y)
    gradient, = ad.grad(loss, [b])
    return ad.function([loss, gradient], inputs=[x, y], backend="dask", chunks=chunks)


def one_blas_thread(f):
    from threadpoolctl import threadpool_limits

    def run(*args):
        with threadpool_limits(1, user_api="blas"):
            return f(*args)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per turn")
    p.add_argument("--quick", action="store_true", help="400,000 rows, 2 rounds")
    p.add_argument("--json", default=os.path.join(_ROOT, "benchmarks", "results",
                                                  "dask_gradient.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.rounds = 400_000, 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, FEATURES))
    beta = np.linspace(-1, 1, FEATURES)
    y = (rng.random(args.rows) < 1 / (1 + np.exp(-x @ beta))).astype(float)

    systems = {"numpy_by_hand": lambda: by_hand(x, y, beta)}
    for rows in (c for c in CHUNKS if c < args.rows):
        f = autodiff_gradient(args.rows, rows, beta)
        single = one_blas_thread(f)
        systems[f"dask, chunks of {rows:,}"] = lambda f=f: f(x, y)
        systems[f"dask, chunks of {rows:,}, BLAS 1 thread"] = lambda f=single: f(x, y)

    want = by_hand(x, y, beta)
    for name, run in systems.items():
        got = run()
        for g, w in zip(got, want):
            assert np.allclose(g, w, rtol=1e-12, atol=1e-15), f"{name} disagrees"

    names = list(systems)
    times = {n: [] for n in names}        # every call
    per_round = {n: [] for n in names}    # median of each round
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        this_round = {n: [] for n in names}
        for name in order:
            for _ in range(args.repeats):
                start = time.perf_counter()
                systems[name]()
                this_round[name].append(time.perf_counter() - start)
        for n in names:
            times[n] += this_round[n]
            per_round[n].append(statistics.median(this_round[n]))
    ratios = {n: [a / b for a, b in zip(per_round[n], per_round["numpy_by_hand"])]
              for n in names}

    print(f"gradient of logistic regression, {args.rows:,} x {FEATURES}, "
          f"{args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    print("| system | median s | x numpy by hand (median over rounds) | range |")
    print("|---|---|---|---|")
    results = []
    for n in names:
        median_ratio = statistics.median(ratios[n])
        results.append({"system": n, "median_seconds": statistics.median(times[n]),
                        "ratio": median_ratio, "ratio_min": min(ratios[n]),
                        "ratio_max": max(ratios[n])})
        print(f"| {n} | {statistics.median(times[n]):.3f} | {median_ratio:.2f} | "
              f"{min(ratios[n]):.2f}-{max(ratios[n]):.2f} |")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({"rows": args.rows, "features": FEATURES, "rounds": args.rounds,
                   "cpus": os.cpu_count(), "load": os.getloadavg()[0],
                   "machine": platform.platform(), "results": results}, handle, indent=1)
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
