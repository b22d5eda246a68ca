"""A short tour of autodiff: build, evaluate, differentiate (to any order), contract.

Run: python examples/demo.py
"""
import argparse

import numpy as np

import autodiff as ad


def section(title):
    print(f"\n== {title} ==")


def main():
    argparse.ArgumentParser(description=__doc__).parse_args()

    section("build and evaluate")
    x = ad.Variable(3.0, name="x")
    y = ad.Variable(4.0, name="y")
    z = x * y + ad.exp(x + 3)          # builds nodes; nothing is computed yet
    print("z          =", repr(z))
    print("z()        =", z(), "   (12 + e**6 =", 12 + np.e ** 6, ")")

    section("derivatives are graphs")
    gx, gy = ad.grad(z, [x, y])
    print("dz/dx      =", gx(), "   (4 + e**6)")
    print("dz/dy      =", gy(), "   (x = 3)")
    gxx, = ad.grad(gx, [x])
    print("d2z/dx2    =", gxx(), "   (e**6)")
    x.value = 5.0
    print("after x.value = 5: z() =", z(), " dz/dx =", gx())

    section("higher orders: d^n tanh(x) at x = 0.5")
    t = ad.Variable(0.5, name="t")
    d = ad.tanh(t)
    for n in range(1, 7):
        d, = ad.grad(d, [t])
        print(f"order {n}: {float(d()):+.10f}   graph size {ad.graph_size(d):5d}")

    section("einsum is the universal contraction")
    rng = np.random.default_rng(0)
    a = ad.Variable(rng.standard_normal((2, 3)), name="a")
    w = ad.Variable(rng.standard_normal((3, 5)), name="w")
    loss = ad.sum(ad.tanh(a @ w) ** 2)
    w_grad, a_grad = ad.grad(loss, [w, a])
    print("loss       =", loss())
    print("dloss/dw   shape", w_grad().shape, " dloss/da shape", a_grad().shape)
    print("trace(w w^T) via einsum 'ij,ij->':", ad.einsum("ij,ij->", w, w)(),
          "=", np.sum(w.value ** 2))
    ad.check_grad(loss, [w, a], order=2)
    print("check_grad: first and second derivatives agree with finite differences")

    section("a compiled training loop (linear regression y = 5 + 10 x)")
    xs = rng.uniform(-1, 1, size=(64, 1))
    ys = 5 + 10 * xs + 0.1 * rng.standard_normal((64, 1))
    xb = ad.Variable(xs, name="xb")
    yb = ad.Variable(ys, name="yb")
    weight = ad.Variable(np.zeros((1, 1)), name="weight")
    bias = ad.Variable(np.zeros(1), name="bias")
    mse = ad.mean((xb @ weight + bias - yb) ** 2)
    step = ad.function([mse, *ad.grad(mse, [weight, bias])], inputs=[xb, yb])
    for i in range(300):
        value, g_w, g_b = step(xs, ys)
        weight.value -= 0.3 * g_w
        bias.value -= 0.3 * g_b
    print(f"after 300 steps: loss {value:.4f}, weight {weight.value.item():.3f}, "
          f"bias {bias.value.item():.3f}")


if __name__ == "__main__":
    main()
