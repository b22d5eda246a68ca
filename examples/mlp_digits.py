"""A multilayer perceptron on scikit-learn's bundled 8x8 digits (no download).

Trains Linear-ReLU-Linear-ReLU-Linear with Adam on mini-batches through one compiled
training step, reports test accuracy, and writes a PNG with the loss curves and some of
the test digits it gets wrong.

Run: python examples/mlp_digits.py [--epochs 60] [--out outputs] [--quick]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true", help="a few epochs (seconds)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick and args.epochs == p.get_default("epochs"):
        args.epochs = 8
    os.makedirs(args.out, exist_ok=True)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from tqdm import tqdm

    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    x_train, x_test, y_train, y_test, img_train, img_test = train_test_split(
        x, y, digits.images, test_size=0.25, random_state=args.seed, stratify=y)
    mean = x_train.mean(0)
    x_train, x_test = x_train - mean, x_test - mean
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")

    rng = np.random.default_rng(args.seed)
    model = nn.Sequential(nn.Linear(64, args.hidden, rng=rng), nn.ReLU(),
                          nn.Linear(args.hidden, args.hidden, rng=rng), nn.ReLU(),
                          nn.Linear(args.hidden, 10, rng=rng))
    opt = nn.Adam(model.parameters(), lr=args.lr)
    xb = ad.Variable(np.zeros((args.batch, 64)), name="xb")
    yb = ad.Variable(np.zeros(args.batch, dtype=np.int64), name="yb")
    loss = nn.softmax_cross_entropy(model(xb), yb)
    step = ad.function([loss, *ad.grad(loss, model.parameters())], inputs=[xb, yb])
    x_all = ad.Variable(x_test, name="x_eval")
    y_all = ad.Variable(y_test, name="y_eval")
    logits_all = model(x_all)
    evaluate = ad.function([logits_all, nn.softmax_cross_entropy(logits_all, y_all)],
                           inputs=[x_all, y_all])

    batches = len(x_train) // args.batch
    train_curve, test_curve = [], []
    bar = tqdm(range(args.epochs), unit="epoch", disable=args.no_progress)
    for _ in bar:
        order = rng.permutation(len(x_train))
        total = 0.0
        for b in range(batches):
            idx = order[b * args.batch:(b + 1) * args.batch]
            value, *grads = step(x_train[idx], y_train[idx])
            opt.step(grads)
            total += float(value)
        train_curve.append(total / batches)
        _, test_loss = evaluate(x_test, y_test)
        test_curve.append(float(test_loss))
        bar.set_postfix(train=f"{train_curve[-1]:.3f}", test=f"{test_curve[-1]:.3f}")
    bar.close()

    logits, _ = evaluate(x_test, y_test)
    predicted = np.argmax(logits, axis=1)
    accuracy = float(np.mean(predicted == y_test))
    wrong = np.flatnonzero(predicted != y_test)
    print(f"train loss {train_curve[0]:.3f} -> {train_curve[-1]:.3f}; "
          f"test loss {test_curve[-1]:.3f}")
    print(f"test accuracy: {accuracy:.4f} ({len(wrong)} of {len(y_test)} wrong)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(10, 4.5))
    ax = fig.add_subplot(1, 2, 1)
    epochs = np.arange(1, args.epochs + 1)
    ax.plot(epochs, train_curve, label="train")
    ax.plot(epochs, test_curve, label="test")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"MLP on digits: test accuracy {accuracy:.1%}")
    ax.legend()
    shown = wrong[:12]
    for i, k in enumerate(shown):
        sub = fig.add_subplot(3, 8, 8 * (i // 4) + 5 + i % 4)
        sub.imshow(img_test[k], cmap="gray_r")
        sub.set_title(f"{y_test[k]} as {predicted[k]}", fontsize=8)
        sub.axis("off")
    if len(shown):
        fig.text(0.75, 0.95, "misclassified (true as predicted)", ha="center")
    fig.tight_layout()
    png = os.path.join(args.out, "mlp_digits.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")
    return accuracy


if __name__ == "__main__":
    main()
