"""tanh and its derivatives of order 1..6 on one plot, and how big their graphs are.

Each derivative is a graph built by differentiating the previous one. The table compares
graph sizes (distinct nodes) for `ad.derivative(y, x, n)`, for nested `ad.grad` left
alone, and for nested `ad.grad` with `ad.simplify` after every order.

Run: python examples/higher_order_tanh.py [--order 6] [--out outputs]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402


def tanh_derivatives(order, points=1000):
    """(x values, [tanh, d1, ..., d_order] value arrays) via ad.derivative."""
    x = ad.Variable(np.linspace(-7, 7, points), name="x")
    y = ad.tanh(x)
    curves = [y()]
    for n in range(1, order + 1):
        curves.append(ad.derivative(y, x, n)())
    return x.value, curves


def plot_tanh_derivatives(path, order=6, points=1000):
    """Write the plot of tanh and its first `order` derivatives to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs, curves = tanh_derivatives(order, points)
    fig, ax = plt.subplots(figsize=(8, 5))
    for n, ys in enumerate(curves):
        label = "tanh(x)" if n == 0 else f"order {n}"
        ax.plot(xs, ys, lw=2.2 if n == 0 else 1.3, label=label)
    ax.set_xlabel("x")
    ax.set_title(f"tanh and its derivatives of order 1..{order} (autodiff)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(ncol=2, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return curves


def size_table(order):
    """Rows (n, derivative size, nested grad size, nested grad+simplify size, build s)."""
    x = ad.Variable(np.linspace(-2, 2, 11), name="x")
    y = ad.tanh(x)
    raw = simp = y
    rows = []
    for n in range(1, order + 1):
        with warnings.catch_warnings():  # the unsimplified route grows on purpose here
            warnings.simplefilter("ignore")
            raw, = ad.grad(raw, [x])
        simp = ad.simplify(ad.grad(simp, [x])[0])
        t = time.perf_counter()
        d = ad.derivative(y, x, n)
        build = time.perf_counter() - t
        # all three are the same function
        assert np.allclose(d(), simp(), rtol=1e-8, atol=1e-8)
        rows.append((n, ad.graph_size(d), ad.graph_size(raw), ad.graph_size(simp), build))
    return rows


def format_table(rows):
    lines = ["| order | derivative(y, x, n) | nested grad | nested grad + simplify | build s |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {d} | {r} | {s} | {b:.3f} |" for n, d, r, s, b in rows]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--order", type=int, default=6, help="highest derivative order (default 6)")
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true", help="fewer points (seconds)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    points = 200 if args.quick else 1000

    png = os.path.join(args.out, "tanh_derivatives.png")
    curves = plot_tanh_derivatives(png, args.order, points)
    print("max |d^n tanh| on [-7, 7]:")
    for n, ys in enumerate(curves):
        print(f"  order {n}: {np.max(np.abs(ys)):10.4f}")

    print("\nGraph size (distinct nodes) of the n-th derivative of tanh(x):\n")
    print(format_table(size_table(args.order)))
    print(f"\nwrote {png}")


if __name__ == "__main__":
    main()
