"""A short tour of autodiff: build, evaluate, differentiate (to any order), contract,
draw, and train a small character-level language model.

Run: python examples/demo.py [--out outputs] [--quick]
Writes tanh_derivatives.png, gradient_graph.png and char_rnn_loss.png into --out.
"""
import argparse
import os
import sys
import time

# Single-threaded BLAS (as examples/char_rnn.py): small matrices, threads only cost time.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import autodiff as ad  # noqa: E402


def section(title):
    print(f"\n== {title} ==")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    parser.add_argument("--quick", action="store_true",
                        help="a much shorter char-rnn training (seconds)")
    parser.add_argument("--char-rnn-steps", type=int, default=None,
                        help="char-rnn training steps (default 300; 40 with --quick)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    written = []

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
    for _ in range(300):
        value, g_w, g_b = step(xs, ys)
        weight.value -= 0.3 * g_w
        bias.value -= 0.3 * g_b
    print(f"after 300 steps: loss {value:.4f}, weight {weight.value.item():.3f}, "
          f"bias {bias.value.item():.3f}")

    section("pictures: tanh and its derivatives, and a gradient graph")
    from higher_order_tanh import plot_tanh_derivatives
    png = os.path.join(args.out, "tanh_derivatives.png")
    plot_tanh_derivatives(png, order=6, points=400 if args.quick else 1000)
    written.append(png)
    print("tanh and its derivatives of order 1..6 ->", png)
    x = ad.Variable(3.0, name="x")
    y = ad.Variable(4.0, name="y")
    z = ad.Add(x * y, ad.exp(x + 3), name="z")
    gx, gy = ad.grad(z, [x, y])
    print("z =", ad.pretty(z), "  dz/dx =", ad.pretty(ad.simplify(gx)))
    graph_png = os.path.join(args.out, "gradient_graph.png")
    try:
        ad.plot_comp_graph([z, gx, gy], graph_png)
        written.append(graph_png)
        print("the graph of z and its gradient ->", graph_png)
    except Exception as err:  # graphviz's dot program missing: say so, go on
        print(f"(could not draw the graph: {err}; install graphviz's `dot` program)")

    section("a character-level language model (char-rnn), briefly trained")
    import char_rnn
    steps = args.char_rnn_steps or (40 if args.quick else 300)
    cr_args = char_rnn.parse_args([
        "--hidden", "64" if args.quick else "128", "--seq-len", "32", "--batch", "16",
        "--steps", str(steps), "--val-every", str(max(steps // 3, 1)), "--sample-every", "0",
        "--sample-len", "120", "--val-chars", "4000", "--lr", "0.005", "--out", args.out])
    result = char_rnn.run(cr_args, log=lambda *a: None)
    written.append(result["png"])
    print(f"{steps} steps of a 1-layer LSTM({cr_args.hidden}) on Python's own documentation "
          f"in {result['seconds']:.0f}s: cross-entropy on the whole validation text "
          f"{result['val']:.3f} nats/char")
    print("sample:", result["sample"])
    print("(python examples/char_rnn.py trains the full model; see --help)")

    section("files written")
    for path in written:
        print("  ", path)
    print(f"tour finished in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
