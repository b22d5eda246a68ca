"""Render graph pictures: an expression, its gradient graph, a two-layer module, and the
summary of a deep model's gradient (repeated layers folded into one box).

Run: python examples/plot_graphs.py [--out DIR] [--format png|svg|pdf] [--quick]
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


class TwoLayer(ad.Module):
    """A two-layer perceptron: its layers appear as nested clusters in the picture."""

    def __init__(self, rng):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, rng=rng)
        self.fc2 = nn.Linear(4, 2, rng=rng)

    def forward(self, x):
        return self.fc2(ad.tanh(self.fc1(x)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs", help="folder for the pictures")
    parser.add_argument("--format", default="png", choices=["png", "svg", "pdf"])
    parser.add_argument("--quick", action="store_true",
                        help="a 10-layer deep model instead of 40 (the summary is the same kind)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def path(name):
        return os.path.join(args.out, f"{name}.{args.format}")

    x = ad.Variable(3.0, name="x")
    y = ad.Variable(4.0, name="y")
    z = ad.Add(x * y, ad.exp(x + 3), name="z")
    gx, gy = ad.grad(z, [x, y])
    written = [ad.plot_comp_graph(z, path("expression")),
               ad.plot_comp_graph([z, gx, gy], path("expression_and_gradient"))]

    rng = np.random.default_rng(0)
    model = TwoLayer(rng)
    batch = ad.Variable(rng.standard_normal((5, 3)), name="batch")
    loss = ad.mean(model(batch) ** 2)
    grads = ad.grad(loss, [model.fc1.weight])
    written.append(ad.plot_comp_graph([loss, *grads], path("two_layer_module")))
    written.append(ad.plot_comp_graph(loss, path("two_layer_collapsed"), collapse_scopes=True))

    # A deep model's gradient is far too large to draw node by node: the picture folds
    # the repeated layers into one box and says so in its caption.
    depth = 10 if args.quick else 40
    layers = [m for _ in range(depth) for m in (nn.Linear(16, 16, rng=rng), nn.Tanh())]
    deep = nn.Sequential(*layers)
    deep_loss = ad.mean(deep(ad.Variable(rng.standard_normal((8, 16)), name="batch")) ** 2)
    deep_grads = ad.grad(deep_loss, deep.parameters())
    written.append(ad.plot_comp_graph([deep_loss, *deep_grads], path("deep_model_summary")))
    print(f"the deep model's gradient graph has {ad.graph_size([deep_loss, *deep_grads])} "
          f"nodes; its picture is a summary")
    print("wrote:", *written, sep="\n  ")


if __name__ == "__main__":
    main()
