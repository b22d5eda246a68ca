"""Render graph pictures: an expression, its gradient graph, and a two-layer module.

Run: python examples/plot_graphs.py [--out DIR] [--format png|svg|pdf]
"""
import argparse
import os

import numpy as np

import autodiff as ad
from autodiff import nn


class TwoLayer(ad.Module):
    """A two-layer perceptron: its layers appear as nested clusters in the picture."""

    def __init__(self, rng):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, rng=rng)
        self.fc2 = nn.Linear(4, 2, rng=rng)

    def forward(self, x):
        return self.fc2(ad.tanh(self.fc1(x)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs", help="folder for the pictures")
    parser.add_argument("--format", default="png", choices=["png", "svg", "pdf"])
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
    print("wrote:", *written, sep="\n  ")


if __name__ == "__main__":
    main()
