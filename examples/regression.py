"""Linear regression on y = 5 + 10 x + noise, recovering both coefficients.

Mini-batch gradient descent through one compiled step (`ad.function`), then a PNG of the
data, the fitted line and the loss curve.

Run: python examples/regression.py [--steps 500] [--out outputs] [--quick]
"""
import argparse
import os
import sys

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--noise", type=float, default=1.0, help="noise standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true", help="fewer steps")
    args = p.parse_args(argv)
    if args.quick and args.steps == p.get_default("steps"):
        args.steps = 200
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm

    rng = np.random.default_rng(args.seed)
    x_data = rng.uniform(-1, 1, (2000, 1))
    y_data = 5 + 10 * x_data + args.noise * rng.standard_normal((2000, 1))

    w = ad.Variable(np.zeros((1, 1)), name="w")
    b = ad.Variable(np.zeros(1), name="b")
    xb = ad.Variable(np.zeros((args.batch, 1)), name="xb")
    yb = ad.Variable(np.zeros((args.batch, 1)), name="yb")
    loss = ad.mean((xb @ w + b - yb) ** 2)
    step = ad.function([loss, *ad.grad(loss, [w, b])], inputs=[xb, yb])
    losses = []
    for _ in tqdm(range(args.steps), unit="step", leave=False):
        idx = rng.integers(0, len(x_data), args.batch)
        value, gw, gb = step(x_data[idx], y_data[idx])
        w.value -= args.lr * gw
        b.value -= args.lr * gb
        losses.append(float(value))
    # the final fit is averaged over the last steps' noise: one full-batch refinement
    x_all = ad.Variable(x_data, name="x_all")   # shapes are fixed per graph: a full-batch one
    y_all = ad.Variable(y_data, name="y_all")
    full_loss = ad.mean((x_all @ w + b - y_all) ** 2)
    full = ad.function([full_loss, *ad.grad(full_loss, [w, b])], inputs=[x_all, y_all])
    for _ in range(50):
        value, gw, gb = full(x_data, y_data)
        w.value -= args.lr * gw
        b.value -= args.lr * gb
    slope, intercept = w.value.item(), b.value.item()
    exact = np.linalg.lstsq(np.c_[np.ones(len(x_data)), x_data], y_data, rcond=None)[0].ravel()
    print(f"fitted y = {intercept:.4f} + {slope:.4f} x   (true: 5 + 10 x; "
          f"least squares: {exact[0]:.4f} + {exact[1]:.4f} x)")
    print(f"loss {losses[0]:.3f} -> {float(value):.3f} (noise variance {args.noise ** 2:.3f})")
    ok = abs(intercept - 5) < 0.1 and abs(slope - 10) < 0.1
    print("both coefficients within 0.1 of the truth:", "yes" if ok else "NO")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.scatter(x_data[:300, 0], y_data[:300, 0], s=6, alpha=0.5, label="data")
    line = np.linspace(-1, 1, 2)
    ax.plot(line, intercept + slope * line, "r", label=f"fit {intercept:.2f} + {slope:.2f} x")
    ax.legend()
    ax.set_title("y = 5 + 10 x + noise")
    ax2.plot(losses)
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("mean squared error")
    fig.tight_layout()
    png = os.path.join(args.out, "regression.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")
    return intercept, slope


if __name__ == "__main__":
    main()
