"""Logistic regression: one instance checked by hand, then a trained decision boundary.

Part 1: w = [-0.5, 0.3, 1], b = 2, x = [10, 0.4, 3.5], y = 1. With z = w.x + b = 0.62 the
loss is -log(sigmoid(z)) = log(1 + exp(-z)) = 0.430446744029496, and the gradients are
dL/dw = (sigmoid(z) - y) x and dL/db = sigmoid(z) - y; both are printed next to autodiff's.

Part 2: trains on a synthetic two-class set (two Gaussian blobs) and writes a PNG of the
data and the decision boundary.

Run: python examples/logistic_regression.py [--steps 300] [--out outputs] [--quick]
"""
import argparse
import os
import sys

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402
from autodiff import nn  # noqa: E402

EXPECTED_LOSS = 0.430446744029496


def one_instance():
    w = ad.Variable(np.array([-0.5, 0.3, 1.0]), name="w")
    b = ad.Variable(2.0, name="b")
    x = np.array([10.0, 0.4, 3.5])
    y = 1.0
    z = ad.dot(x, w) + b
    loss = nn.binary_cross_entropy_with_logits(z, np.array(y))
    g_w, g_b = ad.grad(loss, [w, b])
    value, gw, gb = ad.evaluate([loss, g_w, g_b])
    # by hand
    zz = float(x @ w.value + b.value)
    s = 1 / (1 + np.exp(-zz))
    hand_loss = np.log1p(np.exp(-zz))
    hand_gw, hand_gb = (s - y) * x, s - y
    print("one instance: w = [-0.5, 0.3, 1], b = 2, x = [10, 0.4, 3.5], y = 1")
    print(f"  z = w.x + b         = {zz:.6f}")
    print(f"  loss (autodiff)     = {float(value):.15f}")
    print(f"  loss (by hand)      = {hand_loss:.15f}   expected {EXPECTED_LOSS}")
    print(f"  dL/dw (autodiff)    = {np.array2string(gw, precision=12)}")
    print(f"  dL/dw = (s - y) x   = {np.array2string(hand_gw, precision=12)}")
    print(f"  dL/db (autodiff)    = {float(gb):.12f}")
    print(f"  dL/db = s - y       = {hand_gb:.12f}")
    assert abs(float(value) - EXPECTED_LOSS) < 1e-12
    assert np.allclose(gw, hand_gw, rtol=1e-12) and np.isclose(float(gb), hand_gb, rtol=1e-12)
    print("  autodiff agrees with the formulas")
    return float(value), gw, float(gb)


def train(steps, seed, out, quick):
    from tqdm import tqdm
    rng = np.random.default_rng(seed)
    n = 200 if quick else 400
    x = np.concatenate([rng.normal([-1.0, -0.5], 0.8, (n // 2, 2)),
                        rng.normal([1.2, 0.8], 0.8, (n // 2, 2))])
    y = np.concatenate([np.zeros(n // 2), np.ones(n // 2)])
    w = ad.Variable(np.zeros(2), name="w")
    b = ad.Variable(0.0, name="b")
    xs = ad.Variable(x, name="x")
    ys = ad.Variable(y, name="y")
    logits = xs @ w + b
    loss = nn.binary_cross_entropy_with_logits(logits, ys)
    step = ad.function([loss, *ad.grad(loss, [w, b])], inputs=[xs, ys])
    opt = nn.SGD([w, b], lr=0.5)
    losses = []
    for _ in tqdm(range(steps), unit="step", leave=False):
        value, gw, gb = step(x, y)
        opt.step([gw, gb])
        losses.append(float(value))
    accuracy = float(np.mean(((x @ w.value + b.value) > 0) == (y > 0.5)))
    print(f"\nsynthetic two-class set ({n} points): loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
          f"training accuracy {accuracy:.3f}")
    print(f"  w = {np.array2string(w.value, precision=3)}, b = {float(b.value):.3f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    g0, g1 = np.meshgrid(np.linspace(-4, 4, 200), np.linspace(-4, 4, 200))
    prob = 1 / (1 + np.exp(-(g0 * w.value[0] + g1 * w.value[1] + b.value)))
    ax.contourf(g0, g1, prob, levels=20, cmap="RdBu_r", alpha=0.5)
    ax.contour(g0, g1, prob, levels=[0.5], colors="k")
    ax.scatter(*x[y == 0].T, s=10, c="tab:blue", label="class 0")
    ax.scatter(*x[y == 1].T, s=10, c="tab:red", label="class 1")
    ax.set_title(f"decision boundary (accuracy {accuracy:.1%})")
    ax.legend()
    ax2.plot(losses)
    ax2.set_xlabel("step")
    ax2.set_ylabel("binary cross-entropy")
    ax2.set_title("training loss")
    fig.tight_layout()
    png = os.path.join(out, "logistic_regression.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")
    return losses, accuracy


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true", help="fewer steps and points")
    args = p.parse_args(argv)
    if args.quick and args.steps == p.get_default("steps"):
        args.steps = 60
    os.makedirs(args.out, exist_ok=True)
    one_instance()
    train(args.steps, args.seed, args.out, args.quick)


if __name__ == "__main__":
    main()
