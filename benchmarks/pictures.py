"""Time graph pictures: how long `ad.plot_comp_graph` takes on large gradient graphs, and
how big the pictures come out.

    python benchmarks/pictures.py                         # the default graphs, 3 runs each
    python benchmarks/pictures.py --graphs mlp300,rnn2000 --repeats 5
    python benchmarks/pictures.py --draw-all --timeout 300  # every node drawn (no summary)
    PYTHONPATH=/path/to/other/checkout python benchmarks/pictures.py --draw-all

Prints one row per graph: its nodes, the boxes drawn (distinct node ids in the dot
source), the median seconds of `plot_comp_graph` to PNG (building the dot source,
running `dot`, writing the file) with the range over runs, the pixel size and the file
size. Each run is a fresh process, so a `dot` that runs past `--timeout` is killed with
its process group and reported as "> timeout". `import autodiff` finds whatever is on the
path (the header prints which); `--draw-all` passes ``max_nodes=10**9``, which makes the
previous versions (which refused large graphs) draw at all and this one draw unfolded.
"""
import argparse
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

GRAPHS = {  # name -> (builder, argument): about the node count in the name
    "mlp50": ("mlp", 3),
    "mlp300": ("mlp", 25),
    "mlp500": ("mlp", 40),
    "rnn300": ("rnn", 15),
    "rnn2000": ("rnn", 104),
    "mlp2000": ("mlp", 165),
}
DEFAULT = "mlp50,mlp300,rnn300,mlp2000,rnn2000"


def build(kind, size):
    """The loss and all parameter gradients of an `nn` model, as a list of nodes."""
    import numpy as np
    import autodiff as ad
    from autodiff import nn

    rng = np.random.default_rng(0)
    if kind == "mlp":  # `size` (Linear, Tanh) pairs in one Sequential
        model = nn.Sequential(*[m for _ in range(size)
                                for m in (nn.Linear(8, 8, rng=rng), nn.Tanh())])
        loss = ad.mean(model(ad.Variable(np.ones((4, 8)), name="batch")) ** 2)
        params = model.parameters()
    else:  # an RNN cell unrolled over `size` steps, then a linear head
        cell, head = nn.RNNCell(4, 8, rng=rng), nn.Linear(8, 2, rng=rng)
        h = None
        for t in range(size):
            h = cell(ad.Variable(np.ones((3, 4)), name=f"x{t}"), h)
        loss = ad.mean(head(h) ** 2)
        params = cell.parameters() + head.parameters()
    return [loss, *ad.grad(loss, params)]


def measure_one(name, folder, draw_all):
    """Draw graph `name` once in this process; return its row as a dict."""
    import re
    import autodiff as ad

    nodes = build(*GRAPHS[name])
    options = {"max_nodes": 10 ** 9} if draw_all else {}
    path = os.path.join(folder, f"{name}.png")
    started = time.perf_counter()
    ad.plot_comp_graph(nodes, path, **options)
    seconds = time.perf_counter() - started
    source = ad.to_dot(nodes, **options).source
    with open(path, "rb") as handle:
        width, height = struct.unpack(">II", handle.read(24)[16:24])
    return dict(nodes=ad.graph_size(nodes),
                boxes=len(set(re.findall(r"^\s*(n\d+|scope_\w+|band_\w+) \[", source, re.M))),
                seconds=seconds, width=width, height=height, bytes=os.path.getsize(path))


def run_child(name, folder, draw_all, timeout):
    """One measurement in a fresh process (its own process group, killed on timeout)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", name, "--out", folder]
    if draw_all:
        command.append("--draw-all")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the child and the `dot` it started
        child.communicate()
        return None
    if child.returncode != 0:  # e.g. dot itself failing: reported in the table
        lines = [line for line in err.strip().splitlines() if "Error" in line] or ["?"]
        return {"failed": lines[-1].strip()[:100]}
    return json.loads(out.strip().splitlines()[-1])


def main():
    """Parse the options; measure each graph in fresh processes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default=DEFAULT,
                        help=f"comma-separated, from {', '.join(GRAPHS)} (default {DEFAULT})")
    parser.add_argument("--repeats", type=int, default=3, help="runs per graph (median)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per run")
    parser.add_argument("--draw-all", action="store_true", help="max_nodes=10**9: no summary")
    parser.add_argument("--out", default=None, help="folder for the PNGs (default: temporary)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(args.child, args.out, args.draw_all)))
        return
    folder = args.out or tempfile.mkdtemp(prefix="pictures_")
    os.makedirs(folder, exist_ok=True)
    import autodiff
    print(f"autodiff from {os.path.dirname(autodiff.__file__)}; dot "
          f"{subprocess.run(['dot', '-V'], capture_output=True, text=True).stderr.strip()}; "
          f"{'every node drawn' if args.draw_all else 'default options'}; "
          f"{args.repeats} runs each, timeout {args.timeout:g} s; PNGs in {folder}")
    print(f"{'graph':10} {'nodes':>6} {'boxes':>6} {'seconds (median, range)':>26} "
          f"{'pixels':>12} {'file':>9}")
    for name in args.graphs.split(","):
        rows = [run_child(name, folder, args.draw_all, args.timeout)
                for _ in range(args.repeats)]
        failed = [r["failed"] for r in rows if r is not None and "failed" in r]
        done = [r for r in rows if r is not None and "failed" not in r]
        if failed:
            print(f"{name:10} failed {len(failed)} of {len(rows)} runs: {failed[0]}")
        if not done and not failed:
            print(f"{name:10} {'':>6} {'':>6} {'> ' + format(args.timeout, 'g') + ' s':>26}")
            continue
        if not done:
            continue
        times = [r["seconds"] for r in done]
        late = sum(1 for r in rows if r is None)
        timing = f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})" + \
            (f" +{late} > {args.timeout:g}s" if late else "")
        last = done[-1]
        print(f"{name:10} {last['nodes']:>6} {last['boxes']:>6} {timing:>26} "
              f"{last['width']:>5}x{last['height']:<6} {last['bytes'] / 1e6:>7.2f}MB",
              flush=True)


if __name__ == "__main__":
    main()
