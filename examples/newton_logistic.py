"""Logistic regression by Newton's method on more data than the workers' memory holds.

The data (default 50 million rows x 20 features, 8.4 GB) is generated block by block on
the workers of a local dask cluster whose every worker is limited to 600 MiB, and is never
held whole anywhere. The model is written once as an autodiff graph; its gradient and its
exact Hessian are graphs too (`ad.grad`, `ad.hessian`), lowered to dask with
``ad.function(..., backend="dask")``: each Newton iteration is one pass over the data that
returns the loss, the gradient (20) and the Hessian (20 x 20), then solves for the step.

Then it checks itself, and exits with status 1 if a check fails:

* the same code with the numpy backend on a sample (the first 1 million rows, made in
  memory from the same blocks) and with the dask backend on those same rows agree to 1e-6;
* scikit-learn's unpenalised logistic regression on the sample agrees to 1e-6;
* the fit on all rows is within a few standard errors of the coefficients the data was
  drawn from. (It cannot agree with the sample's fit to 1e-6: the two fits estimate the
  same coefficients from different data and differ by the sample's sampling error, about
  1/sqrt(1e6); that difference is printed in standard errors.)

It prints the peak memory of each worker process and writes the figures to
<out>/newton_logistic.json.

Run: python examples/newton_logistic.py [--rows 50_000_000] [--workers 2]
         [--memory-limit 600MiB] [--out outputs] [--quick]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402
from autodiff import nn  # noqa: E402

AGREEMENT = 1e-6  # coefficients of the same data, fitted two ways


def true_coefficients(features):
    """The coefficients the labels are drawn with: a spread of signs and sizes."""
    return np.linspace(-1.0, 1.0, features) * np.where(np.arange(features) % 2, 1.0, 0.5)


def make_block(seed, index, rows, beta):
    """Block `index` of the data set: its own random stream, so any block can be made
    anywhere, in any order, and the data set is the same on one machine or many."""
    rng = np.random.default_rng([seed, index])
    x = rng.standard_normal((rows, beta.size))
    p = 0.5 * (1.0 + np.tanh(0.5 * (x @ beta)))  # sigmoid, without overflow
    y = (rng.random(rows) < p).astype(np.float64)
    return x, y


def block_sizes(rows, chunk):
    return [min(chunk, rows - start) for start in range(0, rows, chunk)]


def dask_data(rows, chunk, seed, beta):
    """X and y as dask arrays whose blocks are made where they are needed."""
    import dask
    import dask.array as da
    xs, ys = [], []
    for i, n in enumerate(block_sizes(rows, chunk)):
        block = dask.delayed(make_block, pure=True)(seed, i, n, beta)
        xs.append(da.from_delayed(block[0], shape=(n, beta.size), dtype=np.float64))
        ys.append(da.from_delayed(block[1], shape=(n,), dtype=np.float64))
    return da.concatenate(xs), da.concatenate(ys)


def numpy_data(rows, chunk, seed, beta):
    """The first `rows` rows of the same data set, in memory."""
    blocks = [make_block(seed, i, n, beta) for i, n in enumerate(block_sizes(rows, chunk))]
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def newton_step_function(rows, features, backend):
    """One pass over the data: the mean loss, its gradient and its Hessian in beta."""
    x = ad.Variable.placeholder((rows, features), np.float64, name="X")
    y = ad.Variable.placeholder((rows,), np.float64, name="y")
    beta = ad.Variable(np.zeros(features), name="beta")
    loss = nn.binary_cross_entropy_with_logits(x @ beta, y)
    gradient, = ad.grad(loss, [beta])
    hessian = ad.hessian(loss, beta)
    return beta, ad.function([loss, gradient, hessian], inputs=[x, y], backend=backend)


def fit(x, y, backend, label, tol=1e-10, max_iter=25):
    """Newton's method from beta = 0 until the step is below `tol`. Returns the
    coefficients, their standard errors, and the iterations' records."""
    rows, features = x.shape
    beta, step_function = newton_step_function(rows, features, backend)
    history = []
    for iteration in range(1, max_iter + 1):
        start = time.perf_counter()
        loss, gradient, hessian = step_function(x, y)
        step = np.linalg.solve(hessian, gradient)
        beta.value = beta.value - step
        seconds = time.perf_counter() - start
        history.append({"iteration": iteration, "loss": float(loss), "seconds": seconds,
                        "gradient_norm": float(np.linalg.norm(gradient)),
                        "step": float(np.max(np.abs(step)))})
        print(f"  [{label}] iteration {iteration}: loss {float(loss):.12f}  "
              f"|gradient| {history[-1]['gradient_norm']:.2e}  "
              f"|step| {history[-1]['step']:.2e}  ({seconds:.1f} s)", flush=True)
        if history[-1]["step"] < tol:
            break
    else:
        raise RuntimeError(f"{label}: Newton's method did not converge in {max_iter} steps")
    # the covariance of the maximum-likelihood estimate is the inverse of the Hessian of
    # the summed loss, i.e. of rows * (the mean loss's Hessian)
    standard_errors = np.sqrt(np.diag(np.linalg.inv(hessian)) / rows)
    return beta.value.copy(), standard_errors, history


def peak_memory_mib(client):
    """The peak resident memory of each worker process so far, in MiB (Linux: KiB)."""
    import resource

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return sorted(client.run(peak).values())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=50_000_000, help="rows of the data set")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--chunk", type=int, default=250_000, help="rows per block")
    p.add_argument("--sample", type=int, default=1_000_000,
                   help="rows of the in-memory sample (the data set's first rows)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="600MiB", help="per worker")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true",
                   help="200,000 rows in blocks of 25,000, a sample of 50,000 (seconds)")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.chunk, args.sample = 200_000, 25_000, 50_000
    if args.sample % args.chunk or args.sample > args.rows:
        p.error("--sample must be a multiple of --chunk and at most --rows")

    from dask.distributed import Client, LocalCluster
    from dask.utils import parse_bytes
    from sklearn.linear_model import LogisticRegression

    beta_true = true_coefficients(args.features)
    data_bytes = args.rows * (args.features + 1) * 8
    limit = parse_bytes(args.memory_limit)
    print(f"data: {args.rows:,} rows x {args.features} features "
          f"({data_bytes / 2**30:.2f} GiB) in blocks of {args.chunk:,} rows, made on the "
          f"workers; {args.workers} workers of {args.memory_limit} each "
          f"(the data is {data_bytes / limit:.3g}x one worker's limit)")

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        baseline = peak_memory_mib(client)
        x, y = dask_data(args.rows, args.chunk, args.seed, beta_true)
        start = time.perf_counter()
        beta_full, se_full, history = fit(x, y, "dask", label="dask, all rows")
        full_seconds = time.perf_counter() - start
        peaks = peak_memory_mib(client)

        print(f"sample: the first {args.sample:,} rows, fitted by the same code")
        xs, ys = dask_data(args.sample, args.chunk, args.seed, beta_true)
        beta_sample_dask, _, _ = fit(xs, ys, "dask", label="dask, sample")
    xn, yn = numpy_data(args.sample, args.chunk, args.seed, beta_true)
    beta_sample, se_sample, _ = fit(xn, yn, "numpy", label="numpy, sample")
    sklearn = LogisticRegression(C=np.inf, fit_intercept=False, solver="newton-cholesky",
                                 tol=1e-12, max_iter=100).fit(xn, yn)
    beta_sklearn = sklearn.coef_.ravel()

    def largest(a, b):
        return float(np.max(np.abs(a - b)))
    figures = {
        "rows": args.rows, "features": args.features, "chunk": args.chunk,
        "sample": args.sample, "workers": args.workers, "memory_limit": args.memory_limit,
        "data_gib": data_bytes / 2**30, "data_over_limit": data_bytes / limit,
        "iterations": history, "seconds": full_seconds,
        "worker_peak_mib": peaks, "worker_baseline_mib": baseline,
        "dask_vs_numpy_on_sample": largest(beta_sample_dask, beta_sample),
        "sklearn_vs_numpy_on_sample": largest(beta_sklearn, beta_sample),
        "full_vs_true_in_se": float(np.max(np.abs(beta_full - beta_true) / se_full)),
        "full_vs_sample": largest(beta_full, beta_sample),
        "full_vs_sample_in_se": float(np.max(np.abs(beta_full - beta_sample) / se_sample)),
        "coefficients": {"true": beta_true.tolist(), "all_rows": beta_full.tolist(),
                         "sample_dask": beta_sample_dask.tolist(),
                         "sample_numpy": beta_sample.tolist(),
                         "sample_sklearn": beta_sklearn.tolist()},
    }
    print(f"fit on all rows: {len(history)} Newton iterations in {full_seconds:.0f} s")
    print(f"peak memory per worker: {', '.join(f'{m:.0f}' for m in peaks)} MiB "
          f"(at start: {', '.join(f'{m:.0f}' for m in baseline)} MiB; limit "
          f"{args.memory_limit}; data {figures['data_over_limit']:.3g}x the limit)")
    print("coefficients, largest absolute difference:")
    print(f"  dask vs numpy on the sample's rows:           "
          f"{figures['dask_vs_numpy_on_sample']:.1e}  (must be < {AGREEMENT:g})")
    print(f"  scikit-learn vs numpy on the sample:          "
          f"{figures['sklearn_vs_numpy_on_sample']:.1e}  (must be < {AGREEMENT:g})")
    print(f"  all rows vs the true coefficients:            "
          f"{figures['full_vs_true_in_se']:.2f} standard errors (must be < 5)")
    print(f"  all rows vs the sample (sampling error):      {figures['full_vs_sample']:.1e}"
          f" = {figures['full_vs_sample_in_se']:.2f} standard errors of the sample's fit")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "newton_logistic.json")
    with open(path, "w") as handle:
        json.dump(figures, handle, indent=1)
    print(f"figures written to {path}")
    ok = (figures["dask_vs_numpy_on_sample"] < AGREEMENT
          and figures["sklearn_vs_numpy_on_sample"] < AGREEMENT
          and figures["full_vs_true_in_se"] < 5)
    print("all checks passed" if ok else "A CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
