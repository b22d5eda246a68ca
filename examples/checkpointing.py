"""Memory saved by gradient checkpointing on a deep tanh network.

The same deep MLP (`--depth` tanh layers of `--width` units) is differentiated three ways:
plainly (every layer's activations are kept for the backward pass), with each block of
`--block` layers checkpointed (`nn.Sequential(..., checkpoint=True)`: a block keeps only
its input and recomputes its inside during the backward pass), and with every single
layer checkpointed. Peak memory of one compiled gradient evaluation is measured with
tracemalloc (numpy reports its buffers to it), next to the schedule's own estimate
(`Function.planned_peak_bytes`) and the time per evaluation; the gradients of all three
are checked to be equal.

Checkpointing pays when a batch's activations outweigh the weights (and so the weight
gradients, which are kept whatever happens): a large batch through narrow layers. Blocks
of about sqrt(depth) layers keep depth/block block inputs plus one block's insides, about
2 sqrt(depth) layers' activations instead of depth. A single Linear+Tanh layer keeps as
much as its input, so checkpointing each layer alone saves nothing: the table shows it.

Run: python examples/checkpointing.py [--depth 64 --width 128 --batch 2048] [--quick]
"""
import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402
from autodiff import nn  # noqa: E402


def make_layers(depth, width, seed):
    rng = np.random.default_rng(seed)
    return [nn.Sequential(nn.Linear(width, width, rng=rng), nn.Tanh()) for _ in range(depth)]


def build(layers, block, checkpoint, batch, width):
    """The loss and its gradient graph for `layers`, grouped into checkpointed blocks of
    `block` layers when `checkpoint` is true."""
    x = ad.Variable(np.zeros((batch, width)), name="x")
    if checkpoint:
        groups = [nn.Sequential(*layers[i:i + block], checkpoint=True)
                  for i in range(0, len(layers), block)]
    else:
        groups = layers
    h = x
    for g in groups:
        h = g(h)
    loss = ad.mean(h ** 2)
    params = [p for layer in layers for p in layer.parameters()]
    fn = ad.function([loss, *ad.grad(loss, params)], inputs=[x])
    return fn


def measure(fn, x_value, repeats):
    fn(x_value)  # warm up
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn(x_value)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del out
    t = time.perf_counter()
    for _ in range(repeats):
        result = fn(x_value)
    return peak, (time.perf_counter() - t) / repeats, result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=64)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--block", type=int, default=None,
                   help="layers per checkpointed block (default: about sqrt(depth))")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--quick", action="store_true", help="a smaller network (seconds)")
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.width, args.batch, args.repeats = 16, 32, 512, 1
    args.block = args.block or max(1, round(args.depth ** 0.5))
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm

    x_value = np.random.default_rng(args.seed + 1).standard_normal((args.batch, args.width))
    activation_mb = args.batch * args.width * 8 / 2 ** 20
    print(f"{args.depth} tanh layers of width {args.width}, batch {args.batch}: one layer's "
          f"activations are {activation_mb:.2f} MB, its weights "
          f"{args.width * args.width * 8 / 2 ** 20:.2f} MB")
    configs = [("no checkpointing", 1, False),
               (f"blocks of {args.block} checkpointed", args.block, True),
               ("every layer checkpointed", 1, True)]
    rows, reference = [], None
    for label, block, ckpt in tqdm(configs, unit="config", leave=False):
        layers = make_layers(args.depth, args.width, args.seed)
        fn = build(layers, block, ckpt, args.batch, args.width)
        peak, seconds, result = measure(fn, x_value, args.repeats)
        if reference is None:
            reference = result
        else:
            for a, b in zip(reference, result):
                assert np.allclose(a, b, rtol=1e-9, atol=1e-12), "gradients differ"
        rows.append((label, peak / 2 ** 20, fn.planned_peak_bytes() / 2 ** 20, seconds))

    print("\n| configuration | peak memory MB | planned MB | less memory | time |")
    print("|---|---|---|---|---|")
    for label, mb, planned, s in rows:
        print(f"| {label} | {mb:.1f} | {planned:.1f} | {rows[0][1] / mb:.2f}x | "
              f"{s / rows[0][3]:.2f}x ({s:.3f} s) |")
    print("\nthe gradients of all three agree")
    weights_mb = args.depth * args.width * (args.width + 1) * 8 / 2 ** 20
    print(f"the weight gradients alone are {weights_mb:.1f} MB, kept in every configuration")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [r[0].replace(" checkpointed", "\ncheckpointed") for r in rows]
    ax.bar(names, [r[1] for r in rows], color=["tab:grey", "tab:blue", "tab:green"])
    ax.set_ylabel("peak memory (MB)")
    ax2.bar(names, [r[3] for r in rows], color=["tab:grey", "tab:blue", "tab:green"])
    ax2.set_ylabel("seconds per gradient")
    for a in (ax, ax2):
        a.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"gradient of a {args.depth}-layer tanh MLP")
    fig.tight_layout()
    png = os.path.join(args.out, "checkpointing.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")
    return rows


if __name__ == "__main__":
    main()
