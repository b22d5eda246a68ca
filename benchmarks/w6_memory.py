"""W6: peak memory of a W3-style char-RNN training step with a long sequence.

Vocabulary 65, hidden 100, batch 1, sequence length 1000 (--quick: 100), tanh cell
``h_t = tanh(x_t @ Wxh + h_{t-1} @ Whh + bh)``, softmax cross-entropy summed over the
sequence, clip to [-5, 5], Adagrad lr 0.1 (as W3). One step = loss and gradients, clip,
update. Configurations, each in its own fresh process (``python w6_memory.py --child
CONFIG``), built there and then driven by the parent over a pipe, so that timing is
interleaved across processes like every other workload:

* numpy_by_hand: BPTT written out (keeps h_t and softmax(o_t) for every t): the floor.
* autodiff function: the graph built once, ``ad.grad``, ``ad.function([loss, *grads,
  h_last], inputs=[x, y, h0])``: intermediates freed after their last use.
* autodiff function + checkpoint: the same with the cell wrapped in
  ``cell = ad.checkpoint(cell_fn)`` (cell_fn closes over Wxh, Whh, bh): one node per time
  step whose gradient recomputes the cell.
* autodiff function + segments: checkpointing per segment of ``round(sqrt(T))`` time steps
  (32 for T = 1000) instead of per cell: ``block = ad.checkpoint(block_fn)`` where
  ``block_fn(h, xs, ys)`` runs the cells and the losses of its segment and returns the
  segment's last hidden state and loss sum. Only the hidden state at each segment's start
  is kept; the backward pass recomputes one segment at a time.
* autodiff keep-all: the plain graph, simplified (``ad.simplify``, which is
  what ``ad.function`` runs first) evaluated in topological order by a helper here that
  never frees anything: every intermediate stays alive until the step ends.
* torch: eager autograd, for comparison.

Memory, measured in each fresh process right after building, on a step whose effects are
then undone (parameters and Adagrad state restored):

* RSS growth: ``VmHWM - VmRSS`` over one step, after ``gc.collect()``, ``malloc_trim(0)``
  (freed heap goes back to the OS) and resetting the high-water mark (writing 5 to
  ``/proc/self/clear_refs``); falls back to ``ru_maxrss`` growth where that is missing.
* traced peak: ``tracemalloc`` peak over a second such step: every allocation made during
  the step, numpy's array buffers (numpy reports them to tracemalloc) and Python objects.
* planned (autodiff): the largest sum of live intermediate bytes in the evaluation
  schedule, from the node shapes (``ad.function``'s schedule and its frees; keep-all: all
  of them). Not a measurement: an explanation of the two above.

Time: the usual interleaved rounds (ms per step, ratio to numpy_by_hand), and the ratios
that matter here, checkpointed / plain (memory and time), against the target of
"at least 3x less memory for at most 1.4x the time".
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import System, Workload, import_peer, peer_note, REFERENCE, rel_err  # noqa: E402

VOCAB, HIDDEN, BATCH = 65, 100, 1
SEQ, QUICK_SEQ = 1000, 100
LR, CLIP, EPS = 0.1, 5.0, 1e-10
POOL = 2
NAMES = ("Wxh", "Whh", "bh", "Why", "by")
CONFIGS = ("numpy_by_hand", "autodiff function", "autodiff function + checkpoint",
           "autodiff function + segments", "autodiff keep-all", "torch")
TARGET_MEMORY, TARGET_TIME = 3.0, 1.4


# --- the problem (same in every process) ---------------------------------------------

def make_problem(seq, seed=6):
    """W3's problem (parameters, a pool of one-hot batches) with batch 1 and `seq` steps."""
    import w3_char_rnn
    return w3_char_rnn.make_problem(BATCH, seed=seed, seq=seq, pool=POOL)


def _clip_adagrad(params, grads, mems):
    import numpy as np
    for p, g, m in zip(params, grads, mems):
        np.clip(g, -CLIP, CLIP, out=g)
        m += g * g
        p -= LR * g / (np.sqrt(m) + EPS)


class Trainer:
    """State of one configuration: parameters, Adagrad sums, batch counter, hidden state.
    Subclasses define `loss_and_grads(i, h0) -> (loss, grads, h_last)` and the
    parameter accessors."""

    def __init__(self, pb):
        import numpy as np
        self.np, self.pb = np, pb
        self.mems = [np.zeros_like(p) for p in pb["params"]]
        self.i = 0
        self.h = np.zeros((BATCH, HIDDEN))

    def step(self):
        i, self.i = self.i, (self.i + 1) % POOL
        loss, grads, self.h = self.loss_and_grads(i, self.h)
        params = self.get_params()
        # every system returns fresh gradient arrays: clipped in place, not copied first
        _clip_adagrad(params, [self.np.asarray(g, dtype=self.np.float64) for g in grads],
                      self.mems)
        self.set_params(params)
        return loss

    def values(self):
        loss, grads, _ = self.loss_and_grads(0, self.np.zeros((BATCH, HIDDEN)))
        out = {"loss": self.np.asarray(loss, dtype=self.np.float64)}
        out.update({"d" + n: self.np.asarray(g) for n, g in zip(NAMES, grads)})
        return out

    def snapshot(self):
        return ([p.copy() for p in self.get_params()], [m.copy() for m in self.mems],
                self.i, self.h.copy())

    def restore(self, snap):
        params, mems, self.i, self.h = snap
        self.set_params([p.copy() for p in params])
        self.mems = [m.copy() for m in mems]


class NumpyTrainer(Trainer):
    def __init__(self, pb):
        super().__init__(pb)
        self.params = [p.copy() for p in pb["params"]]
        self.info = {}

    def get_params(self):
        return self.params

    def set_params(self, params):
        self.params = params

    def loss_and_grads(self, i, h0):
        from w3_char_rnn import rnn_loss_and_grads  # the same maths as W3's reference
        return rnn_loss_and_grads(self.params, self.pb["xs"][i], self.pb["ys"][i], h0, BATCH)


class KeepAll:
    """Evaluate a graph in topological order, keeping every value until the call ends
    (unlike ``ad.function``, which frees each intermediate after its last use).
    The graph is simplified first, as ``ad.function`` does."""

    def __init__(self, ad, outputs, inputs):
        outputs = ad.simplify(list(outputs))
        order = ad.topo_sort(outputs)
        index = {id(n): i for i, n in enumerate(order)}
        self.size = len(order)
        self.nodes = order
        self.consts, self.leaves, self.plan = [], [], []
        for i, node in enumerate(order):
            if node.children:
                self.plan.append((i, node.kernel(), tuple(index[id(c)] for c in node.children)))
            elif isinstance(node, ad.Constant):
                self.consts.append((i, node.value))
            else:
                self.leaves.append((i, node))
        self.inputs = [index.get(id(v)) for v in inputs]
        self.outputs = [index[id(o)] for o in outputs]

    def __call__(self, *values):
        import numpy as np
        buf = [None] * self.size
        for i, value in self.consts:
            buf[i] = value
        for i, leaf in self.leaves:
            buf[i] = leaf.value
        for i, value in zip(self.inputs, values):
            if i is not None:
                buf[i] = np.asarray(value)
        with np.errstate(all="ignore"):
            for i, kernel, args in self.plan:
                buf[i] = kernel(*[buf[a] for a in args])
        return [buf[o] for o in self.outputs]

    def planned_bytes(self):
        return sum(_nbytes(n) for n in self.nodes if n.children)


def _nbytes(node):
    import numpy as np
    return int(np.prod(node.shape, dtype=np.int64)) * np.dtype(node.dtype).itemsize


class AutodiffTrainer(Trainer):
    def __init__(self, pb, checkpoint, segments, keep_all):
        super().__init__(pb)
        import warnings
        import autodiff as ad
        self.ad = ad
        t0 = time.perf_counter()
        self.vars = [ad.Variable(p.copy(), name=n) for p, n in zip(pb["params"], NAMES)]
        Wxh, Whh, bh, Why, by = self.vars
        X = ad.Variable(pb["xs"][0], name="x")
        Y = ad.Variable(pb["ys"][0], name="y")
        h0 = ad.Variable(self.np.zeros((BATCH, HIDDEN)), name="h0")

        def cell_fn(h, x):
            return ad.tanh(x @ Wxh + h @ Whh + bh)

        cell = ad.checkpoint(cell_fn) if checkpoint else cell_fn

        def block_fn(h, xs, ys):
            """Cells and losses of consecutive time steps: (last hidden state, loss sum)."""
            loss = None
            for t in range(xs.shape[0]):
                h = cell(h, xs[t])
                ce = ad.sum(ad.SoftmaxCEWithLogits(ys[t], h @ Why + by))
                loss = ce if loss is None else loss + ce
            return h, loss

        seq = pb["seq"]
        if segments:
            size = segment_length(seq)
            block = ad.checkpoint(block_fn)
            h, losses = h0, []
            for start in range(0, seq, size):
                h, segment_loss = block(h, X[start:start + size], Y[start:start + size])
                losses.append(segment_loss)
            loss = sum(losses[1:], losses[0])
        else:
            h, loss = block_fn(h0, X, Y)
        loss = loss * (1.0 / BATCH)
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # grad's size warning (see report)
            grads = ad.grad(loss, self.vars)
        t2 = time.perf_counter()
        outputs, inputs = [loss, *grads, h], [X, Y, h0]
        if keep_all:
            self.f = KeepAll(ad, outputs, inputs)
            planned = self.f.planned_bytes()
        else:
            self.f = ad.function(outputs, inputs=inputs)
            planned = self.f.planned_peak_bytes()
        t3 = time.perf_counter()
        self.info = {"build_s": [t1 - t0, t2 - t1, t3 - t2], "planned_bytes": planned,
                     "nodes": len(self.f.nodes)}

    def get_params(self):
        return [v.value for v in self.vars]

    def set_params(self, params):
        for v, p in zip(self.vars, params):
            v.value = p

    def loss_and_grads(self, i, h0):
        loss, *grads, h = self.f(self.pb["xs"][i], self.pb["ys"][i], h0)
        return loss, grads, h


class TorchTrainer(Trainer):
    def __init__(self, pb):
        super().__init__(pb)
        torch = import_peer("torch")
        self.torch = torch
        self.tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True)
                        for p in pb["params"]]
        self.xs = [torch.from_numpy(x) for x in pb["xs"]]
        self.ys = [torch.from_numpy(y) for y in pb["yi"]]
        self.info = {}

    def get_params(self):
        return [p.detach().numpy().copy() for p in self.tparams]

    def set_params(self, params):
        with self.torch.no_grad():
            for tp, p in zip(self.tparams, params):
                tp.copy_(self.torch.from_numpy(p))

    def loss_and_grads(self, i, h0):
        torch = self.torch
        F = torch.nn.functional
        Wxh, Whh, bh, Why, by = self.tparams
        X, Y = self.xs[i], self.ys[i]
        h = torch.from_numpy(h0)
        loss = 0
        for t in range(len(X)):
            h = torch.tanh(X[t] @ Wxh + h @ Whh + bh)
            loss = loss + F.cross_entropy(h @ Why + by, Y[t], reduction="sum")
        loss = loss / BATCH
        grads = torch.autograd.grad(loss, self.tparams)
        return loss.item(), [g.numpy() for g in grads], h.detach().numpy().copy()


def make_trainer(config, pb):
    if config == "numpy_by_hand":
        return NumpyTrainer(pb)
    if config == "torch":
        return TorchTrainer(pb)
    return AutodiffTrainer(pb, checkpoint=config.endswith("checkpoint"),
                           segments=config.endswith("segments"),
                           keep_all="keep-all" in config)


def segment_length(seq):
    """Time steps per checkpointed segment: about sqrt(T), which balances the hidden
    states kept at segment starts against one segment's recomputed intermediates."""
    return max(1, round(seq ** 0.5))


# --- memory measurement (in the child) -------------------------------------------------

def _status():
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line.split(":")[0]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def _malloc_trim():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass


def measure_memory(trainer):
    """RSS growth and tracemalloc peak of one step each, in the steady state (after two
    warm-up steps: a compiled function generates its code at its second call, a one-time
    cost); the trainer's state is restored."""
    import gc
    import resource
    import tracemalloc
    result = {}
    snap = trainer.snapshot()
    for _ in range(2):
        trainer.step()
    trainer.restore(snap)
    gc.collect()
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
        before = _status()["VmRSS"]
        trainer.step()
        result["rss_bytes"] = _status()["VmHWM"] - before
        result["rss_method"] = "VmHWM after clear_refs"
    except (OSError, KeyError):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        trainer.step()
        result["rss_bytes"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        result["rss_method"] = "ru_maxrss growth (a lower bound)"
    trainer.restore(snap)
    gc.collect()
    tracemalloc.start()
    trainer.step()
    result["traced_bytes"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    trainer.restore(snap)
    gc.collect()
    return result


def child_main(argv):
    """``w6_memory.py --child CONFIG --seq N --threads K``: build, measure memory, serve."""
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--child", required=True)
    p.add_argument("--seq", type=int, default=SEQ)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import harness
    harness.set_threads(args.threads)
    import numpy as np
    proto = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not mix with the protocol
    try:
        pb = make_problem(args.seq)
        t0 = time.perf_counter()
        trainer = make_trainer(args.child, pb)
        build_total = time.perf_counter() - t0
        memory = measure_memory(trainer)
        info = dict(trainer.info, build_total_s=build_total, **memory)
        ready = {"ok": True, "info": info}
    except Exception as exc:
        import traceback
        ready = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc()}
    proto.write("@@" + json.dumps(ready) + "\n")
    proto.flush()
    if not ready["ok"]:
        return 1
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "step":
            trainer.step()
        elif cmd == "values":
            np.savez(arg, **trainer.values())
        elif cmd == "params":
            np.savez(arg, *trainer.get_params())
        elif cmd == "quit":
            break
        proto.write("@@ok\n")
        proto.flush()
    return 0


# --- the parent side --------------------------------------------------------------------

class Child:
    """One configuration's process, driven over its stdin/stdout."""

    def __init__(self, config, seq, threads, tmpdir):
        import autodiff
        env = dict(os.environ)
        # the child measures the same autodiff as this process
        root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "")
                                                      .split(os.pathsep) if p])
        self.config, self.tmpdir = config, tmpdir
        # stderr to a file: a full pipe would block the child
        self.errfile = open(os.path.join(tmpdir, f"stderr-{config.replace(' ', '_')}.txt"),
                            "w+")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", config, "--seq", str(seq),
             "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errfile, text=True,
            env=env, bufsize=1)
        self.ready = None

    def wait_ready(self):
        line = self._read()
        self.ready = json.loads(line)
        return self.ready

    def _read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.errfile.seek(0)
                err = self.errfile.read()
                raise RuntimeError(f"W6 child {self.config!r} exited: {err[-2000:]}")
            if line.startswith("@@"):
                return line[2:].strip()

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if reply != "ok":
            raise RuntimeError(f"W6 child {self.config!r}: {reply}")

    def step(self):
        self.command("step")

    def values(self):
        import numpy as np
        path = os.path.join(self.tmpdir, f"values-{os.getpid()}-{id(self)}.npz")
        self.command(f"values {path}")
        with np.load(path) as data:
            out = {k: data[k] for k in data.files}
        os.remove(path)
        return out

    def params(self):
        import numpy as np
        path = os.path.join(self.tmpdir, f"params-{os.getpid()}-{id(self)}.npz")
        self.command(f"params {path}")
        with np.load(path) as data:
            out = [data[f"arr_{i}"] for i in range(len(data.files))]
        os.remove(path)
        return out

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if not self.errfile.closed:
            self.errfile.close()
            try:
                os.remove(self.errfile.name)
            except OSError:
                pass


def _mb(b):
    return "-" if b is None else f"{b / 2 ** 20:.1f}"


def _memory_lines(children, seq, ckpt_check):
    head = (f"  {'configuration':<32}{'RSS growth MB':>14}{'traced peak MB':>16}"
            f"{'planned MB':>12}{'nodes':>8}  build s (forward / grad / compile)")
    lines = [f"  peak memory of one training step (T = {seq}), each configuration in a fresh "
             f"process:", head, "  " + "-" * (len(head) - 2)]
    method = None
    for c in children:
        info = c.ready.get("info") if c.ready else None
        if not info:
            lines.append(f"  {c.config:<32}  failed: {c.ready.get('error') if c.ready else '?'}")
            continue
        method = info.get("rss_method")
        build = info.get("build_s")
        build = (" / ".join(f"{b:.2f}" for b in build) if build
                 else f"{info['build_total_s']:.2f}")
        nodes = info.get("nodes")
        traced = None if c.config == "torch" else info["traced_bytes"]  # own allocator
        lines.append(f"  {c.config:<32}{_mb(info['rss_bytes']):>14}{_mb(traced):>16}"
                     f"{_mb(info.get('planned_bytes')):>12}{nodes if nodes else '-':>8}  {build}")
    lines.append(f"  RSS growth: {method}, after gc.collect and malloc_trim(0); traced peak: "
                 f"tracemalloc over a second step (numpy buffers + Python objects; torch's "
                 f"allocator is not traced); planned: live intermediate bytes along the "
                 f"schedule, from node shapes")
    if ckpt_check:
        lines.append(f"  checkpointed vs plain gradients (ad.function, same start): "
                     f"{ckpt_check}")
    return lines


def _ratio_lines(children, summary):
    """Checkpointed against plain, and ad.function against keep-all: memory and time."""
    info = {c.config: c.ready["info"] for c in children if c.ready and c.ready.get("ok")}
    lines = []
    pairs = [("checkpoint per cell vs plain, ad.function", "autodiff function",
              "autodiff function + checkpoint", True),
             ("checkpoint per segment vs plain, ad.function", "autodiff function",
              "autodiff function + segments", True),
             ("ad.function vs keep-all, no checkpoint", "autodiff keep-all",
              "autodiff function", False)]
    for label, base, new, is_ckpt in pairs:
        if base not in info or new not in info:
            continue
        rss = info[base]["rss_bytes"] / max(info[new]["rss_bytes"], 1)
        traced = info[base]["traced_bytes"] / max(info[new]["traced_bytes"], 1)
        text = f"  {label}: memory {rss:.2f}x less (RSS), {traced:.2f}x less (traced)"
        if base in summary and new in summary:
            rb, rn = summary[base]["round_medians_ms"], summary[new]["round_medians_ms"]
            ratios = sorted(n / b for n, b in zip(rn, rb))
            k = len(ratios)
            med = ratios[k // 2] if k % 2 else (ratios[k // 2 - 1] + ratios[k // 2]) / 2
            text += f", time x{med:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f} by round)"
            if is_ckpt:
                met = min(rss, traced) >= TARGET_MEMORY and med <= TARGET_TIME
                text += (f"; target >= {TARGET_MEMORY:g}x less memory for <= "
                         f"{TARGET_TIME:g}x the time: {'MET' if met else 'NOT MET'}")
        lines.append(text)
    return lines


def build(quick=False, skip=(), threads=None):
    import tempfile
    import harness
    seq = QUICK_SEQ if quick else SEQ
    threads = threads or harness.threads() or 1
    configs = [c for c in CONFIGS if c == REFERENCE or c not in skip]
    notes = []
    if "torch" in configs and import_peer("torch") is None:
        configs.remove("torch")
        notes.append(peer_note("torch"))
    tmpdir = tempfile.mkdtemp(prefix="w6-")
    children = []
    try:
        # two builds at a time on this 2-core machine; memory is per process, so
        # concurrent builds do not disturb it (their build seconds are indicative only)
        pending = list(configs)
        running = []
        while pending or running:
            while pending and len(running) < 2:
                c = Child(pending.pop(0), seq, threads, tmpdir)
                children.append(c)
                running.append(c)
            c = running.pop(0)
            c.wait_ready()
    except Exception:
        for c in children:
            c.close()
        raise
    systems = []
    for c in children:
        if not c.ready.get("ok"):
            notes.append(f"{c.config}: failed to build: {c.ready.get('error')}")
            if c.config == REFERENCE:
                raise RuntimeError(f"W6 reference failed:\n{c.ready.get('traceback')}")
            continue
        systems.append(System(c.config, c.step, c.values, c.params))
    ckpt_check = []
    ok = {c.config: c for c in children if c.ready.get("ok")}
    plain = ok.get("autodiff function")
    for config in ("autodiff function + checkpoint", "autodiff function + segments"):
        if plain and config in ok:
            vp, vc = plain.values(), ok[config].values()
            errs = {k: rel_err(vc[k], vp[k]) for k in vp}
            worst = max(errs, key=errs.get)
            ckpt_check.append(f"{config[len('autodiff function + '):]}: max |a-b|/max|b| "
                              f"{errs[worst]:.1e} (worst: {worst})")
    ckpt_check = "; ".join(ckpt_check) or None

    def close():
        for c in children:
            c.close()
        try:
            os.rmdir(tmpdir)
        except OSError:
            pass

    wl = Workload("W6", f"char-RNN V65 H100 batch 1, T={seq}: time and peak memory of a "
                  f"training step, plain vs ad.checkpoint per cell and per "
                  f"{segment_length(seq)}-step segment", systems,
                  steps=3 if quick else 4, warmup=1 if quick else 2,
                  check_steps=2, notes=notes)
    wl.extra_lines = _memory_lines(children, seq, ckpt_check)
    wl.report = lambda summary: _ratio_lines(children, summary)
    wl.close = close
    wl.data = {"seq": seq, "memory": {c.config: (c.ready or {}).get("info") for c in children},
               "checkpoint_vs_plain_gradients": ckpt_check}
    return wl


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
