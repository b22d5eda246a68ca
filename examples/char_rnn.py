"""Character-level language model (char-rnn) trained with autodiff, then sampled.

The default corpus is the reference prose that ships with every Python installation
(`pydoc_data.topics`), so nothing is downloaded; `--text PATH` trains on your own file.

The training graph (an unrolled RNN/LSTM/GRU over `--seq-len` characters for `--batch`
parallel streams) is built once and compiled with `ad.function`; each step feeds a new
batch and the hidden state left by the previous batch (truncated backpropagation through
time). `--rebuild` builds and differentiates a fresh graph every step instead.

Examples:
  python examples/char_rnn.py                          # train with the defaults
  python examples/char_rnn.py --quick                  # a few seconds, tiny model
  python examples/char_rnn.py --checkpoint ck.npz --steps 2000
  python examples/char_rnn.py --checkpoint ck.npz --steps 4000 --resume
  python examples/char_rnn.py --checkpoint ck.npz --generate 500 --prime "The " \\
      --temperature 0.7
"""
import argparse
import json
import os
import sys
import time

# Single-threaded BLAS unless the user says otherwise: the matrices of a char-rnn step are
# small, and threads cost more than they bring (several times more on a busy machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

# Run against the checkout this file belongs to (when there is one), not another copy.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_ROOT, "autodiff")) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import autodiff as ad  # noqa: E402
from autodiff import nn  # noqa: E402

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
OPTIMIZERS = {"adam": nn.Adam, "adagrad": nn.Adagrad, "sgd": nn.SGD, "rmsprop": nn.RMSprop}
TRAIN_PREFIX = "train/"  # extra entries in the checkpoint beside the model and optimiser


# --- data ------------------------------------------------------------------------------

def default_corpus():
    """The pydoc topic texts of the standard library: ~465k characters of English prose."""
    from pydoc_data.topics import topics
    return "\n\n".join(topics[key] for key in sorted(topics))


def load_text(path=None):
    if path is None:
        return default_corpus()
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


class Vocab:
    def __init__(self, chars):
        self.chars = "".join(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        unknown = self.index.get(" ", 0)
        return np.array([self.index.get(c, unknown) for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


class Streams:
    """`batch` parallel contiguous streams over `data`; batch k is a pure function of k,
    so the data position is just the step number (resume needs nothing else).

    Returns (inputs (T, B), targets (T, B), reset) where reset says the streams wrapped
    round to their start, so the carried hidden state must start from zeros again."""

    def __init__(self, data, batch, seq_len):
        self.batch, self.seq_len = batch, seq_len
        length = (len(data) - 1) // batch
        if length < seq_len + 1:
            raise ValueError(f"text too short: {len(data)} characters for {batch} streams "
                             f"of {seq_len + 1}")
        self.x = data[:length * batch].reshape(batch, length)
        self.y = data[1:length * batch + 1].reshape(batch, length)
        self.per_epoch = length // seq_len

    def get(self, k):
        j = k % self.per_epoch
        s = slice(j * self.seq_len, (j + 1) * self.seq_len)
        return self.x[:, s].T, self.y[:, s].T, j == 0


# --- model -----------------------------------------------------------------------------

class CharRNN(nn.Module):
    """A stack of recurrent cells over one-hot characters, then a Linear to logits."""

    def __init__(self, vocab_size, hidden, layers=1, cell="lstm", rng=None, loop="scan"):
        super().__init__()
        self.vocab_size, self.hidden, self.cell_type = vocab_size, hidden, cell
        self.loop = loop  # "scan" (one loop node) or "unrolled" (a cell per time step)
        make = CELLS[cell]
        self.cells = [make(vocab_size if i == 0 else hidden, hidden, rng=rng)
                      for i in range(layers)]
        self.head = nn.Linear(hidden, vocab_size, rng=rng)

    @property
    def lstm(self):
        return self.cell_type == "lstm"

    def state_shapes(self, batch):
        """Shapes of the flat list of state arrays: h per layer (and c, for LSTM)."""
        per_layer = 2 if self.lstm else 1
        return [(batch, self.hidden)] * (per_layer * len(self.cells))

    def zero_state(self, batch):
        return [np.zeros(s) for s in self.state_shapes(batch)]

    def forward(self, inputs, state):
        """inputs: (T, B, V) one-hot characters; state: flat list of state nodes.
        Returns (logits (T, B, V), final flat state). The time loop is one `ad.scan`, or
        with ``loop="unrolled"`` a copy of the cells per time step: on the numpy backend
        the unrolled graph runs as one straight-line program, faster than calling the
        loop body step by step; on the jax backend the scan is a compiled loop."""
        per = 2 if self.lstm else 1

        def step(flat, x):
            new = []
            for i, cell in enumerate(self.cells):
                layer = flat[i * per:(i + 1) * per]
                layer = cell(x, tuple(layer)) if self.lstm else (cell(x, layer[0]),)
                new.extend(layer)
                x = layer[0]
            return tuple(new), x

        if self.loop == "scan":
            final, tops = ad.scan(step, tuple(state), inputs)
            return self.head(tops), list(final)
        flat, tops = tuple(state), []
        for t in range(inputs.shape[0]):
            flat, top = step(flat, inputs[t])
            tops.append(top)
        return self.head(ad.stack(tops, axis=0)), list(flat)


def one_hot(ids, vocab_size):
    out = np.zeros(ids.shape + (vocab_size,))
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


def build_graph(model, seq_len, batch, with_grads=True):
    """The unrolled graph with its batch slots: returns (slots, loss, final state, grads)."""
    v = model.vocab_size
    xs = ad.Variable(np.zeros((seq_len, batch, v)), name="inputs")
    ys = ad.Variable(np.zeros((seq_len, batch), dtype=np.int64), name="targets")
    h0 = [ad.Variable(np.zeros(s), name=f"state{i}")
          for i, s in enumerate(model.state_shapes(batch))]
    logits, final = model(xs, h0)
    loss = nn.softmax_cross_entropy(logits, ys)
    grads = ad.grad(loss, model.parameters()) if with_grads else []
    return [xs, ys, *h0], loss, final, grads


class Trainer:
    """Training state: model, optimiser, step, carried hidden state, history."""

    def __init__(self, args, text):
        self.args = args
        split = int(len(text) * (1 - args.val_fraction))
        self.vocab = Vocab.from_text(text)
        self.train_data = self.vocab.encode(text[:split])
        self.val_data = self.vocab.encode(text[split:])
        rng = np.random.default_rng(args.seed)
        self.model = CharRNN(len(self.vocab), args.hidden, args.layers, args.cell, rng=rng,
                             loop="scan" if args.backend == "jax" else "unrolled")
        params = self.model.parameters()
        self.opt = OPTIMIZERS[args.optimizer](params, lr=args.lr)
        self.sample_rng = np.random.default_rng(args.seed + 1)
        self.train = Streams(self.train_data, args.batch, args.seq_len)
        self.state = self.model.zero_state(args.batch)
        self.step = 0
        self.history = {"step": [], "train": [], "val_step": [], "val": []}
        self._compiled = None
        self._val_fn = None

    # -- one step ---------------------------------------------------------------------
    def train_step(self):
        args, model = self.args, self.model
        x, y, reset = self.train.get(self.step)
        if reset:
            self.state = model.zero_state(args.batch)
        xo = one_hot(x, model.vocab_size)
        if args.rebuild:  # dynamic style: a fresh graph from this batch's values
            states = [ad.Constant(s) for s in self.state]
            logits, final = model(ad.Constant(xo), states)
            loss = nn.softmax_cross_entropy(logits, y)
            grads = ad.grad(loss, model.parameters())
            values = ad.evaluate([loss, *final, *grads], backend=args.backend)
            n = len(self.state)
            grads = list(values[1 + n:])
            if args.clip > 0:
                grads, _ = nn.clip_grad_norm(grads, args.clip)
            self.opt.step(grads)
        else:  # the whole step, clipping and optimiser included, is one compiled call
            if self._compiled is None:
                slots, loss, final, grads = build_graph(model, args.seq_len, args.batch)
                if args.clip > 0:
                    grads, _ = nn.clip_grad_norm(grads, args.clip)
                self._compiled = ad.function([loss, *final], inputs=slots,
                                             updates=self.opt.updates(grads),
                                             backend=args.backend)
            values = self._compiled(xo, y, *self.state)
        n = len(self.state)
        loss_value = float(values[0])
        self.state = [np.array(s) for s in values[1:1 + n]]
        self.step += 1
        return loss_value

    def validate(self, max_chars=None):
        """Mean cross-entropy (nats/char) over the validation text (or its first
        `max_chars`), read as `batch` streams with the state carried along."""
        args = self.args
        data = self.val_data if max_chars is None else self.val_data[:max_chars]
        batch = min(args.batch, max(1, (len(data) - 1) // (args.seq_len + 1)))
        streams = Streams(data, batch, args.seq_len)
        if self._val_fn is None or self._val_fn[0] != batch:
            slots, loss, final, _ = build_graph(self.model, args.seq_len, batch, False)
            self._val_fn = (batch, ad.function([loss, *final], inputs=slots,
                                               backend=args.backend))
        fn = self._val_fn[1]
        state = self.model.zero_state(batch)
        total = 0.0
        for k in range(streams.per_epoch):
            x, y, _ = streams.get(k)
            loss, *state = fn(one_hot(x, self.model.vocab_size), y, *state)
            total += float(loss)
        return total / streams.per_epoch

    # -- checkpoints --------------------------------------------------------------------
    def save(self, path):
        """Model, optimiser, step, carried state, RNG state and history in one .npz,
        replaced atomically (the layout of ``model.save(path, optimizer=opt)`` plus
        ``train/`` entries)."""
        from autodiff.nn.module import OPTIMIZER_PREFIX
        arrays = self.model.state_dict()
        arrays.update({OPTIMIZER_PREFIX + k: v for k, v in self.opt.state_dict().items()})
        extra = {
            "step": np.array(self.step),
            "vocab": np.array(self.vocab.chars),
            "config": np.array(json.dumps(config_of(self.args))),
            "rng": np.array(json.dumps(self.sample_rng.bit_generator.state)),
            "history": np.array(json.dumps(self.history)),
        }
        for i, s in enumerate(self.state):
            extra[f"state.{i}"] = s
        arrays.update({TRAIN_PREFIX + k: v for k, v in extra.items()})
        nn.save_arrays(path, arrays)

    def restore(self, path):
        arrays = nn.load_arrays(path)
        train = {k[len(TRAIN_PREFIX):]: v for k, v in arrays.items()
                 if k.startswith(TRAIN_PREFIX)}
        saved = json.loads(str(train["config"]))
        mine = config_of(self.args)
        if saved != mine:
            diff = {k: (saved.get(k), mine.get(k)) for k in set(saved) | set(mine)
                    if saved.get(k) != mine.get(k)}
            raise SystemExit(f"{path}: saved with different settings (saved, given): {diff}")
        if str(train["vocab"]) != self.vocab.chars:
            raise SystemExit(f"{path}: saved with a different text (vocabulary differs)")
        result = self.model.load(path, self.opt, strict=False)
        if result.missing_keys:
            raise SystemExit(f"{path}: missing parameters {result.missing_keys}")
        self.step = int(train["step"])
        self.sample_rng.bit_generator.state = json.loads(str(train["rng"]))
        self.history = json.loads(str(train["history"]))
        self.state = [np.array(train[f"state.{i}"]) for i in range(len(self.state))]


def config_of(args):
    """The settings a checkpoint must agree on to be resumed."""
    keys = ("cell", "hidden", "layers", "seq_len", "batch", "lr", "optimizer", "clip", "seed",
            "val_fraction", "text")  # (not the backend: a checkpoint resumes on either)
    return {k: getattr(args, k) for k in keys}


# --- sampling --------------------------------------------------------------------------

class Sampler:
    """One character at a time through a compiled single-step graph (batch 1)."""

    def __init__(self, model):
        self.model = model
        v = model.vocab_size
        self.x = ad.Variable(np.zeros((1, v)), name="char")
        self.h = [ad.Variable(np.zeros(s), name=f"state{i}")
                  for i, s in enumerate(model.state_shapes(1))]
        logits, final = model(ad.expand_dims(self.x, 0), self.h)
        self.fn = ad.function([logits[0, 0], *final], inputs=[self.x, *self.h])

    def sample(self, vocab, n, prime="", temperature=1.0, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        v = len(vocab)
        state = self.model.zero_state(1)
        prime = prime or "\n"
        ids = vocab.encode(prime)
        logits = None
        for i in ids:  # feed the prime text
            logits, *state = self.fn(one_hot(np.array([i]), v), *state)
        out = []
        for _ in range(n):
            z = np.asarray(logits, dtype=np.float64) / max(temperature, 1e-6)
            p = np.exp(z - z.max())
            p /= p.sum()
            i = int(rng.choice(v, p=p))
            out.append(i)
            logits, *state = self.fn(one_hot(np.array([i]), v), *state)
        return vocab.decode(out)


# --- plots -----------------------------------------------------------------------------

def plot_losses(history, path, title, val_chars=None, final_val=None, final_step=None):
    """Training loss per step, the periodic validations (on the first `val_chars`
    characters of the validation text) and the final one (on the whole of it), each
    labelled with what it measures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, train = np.array(history["step"]), np.array(history["train"])
    if len(train):
        ax.plot(steps, train, color="tab:blue", alpha=0.3, lw=0.8, label="train (per step)")
        w = max(1, len(train) // 50)
        if len(train) >= w > 1:
            smooth = np.convolve(train, np.ones(w) / w, mode="valid")
            ax.plot(steps[w - 1:], smooth, color="tab:blue", label=f"train ({w}-step mean)")
    if history["val"]:
        subset = f"first {val_chars:,} chars" if val_chars else "whole text"
        ax.plot(history["val_step"], history["val"], "o-", color="tab:red",
                label=f"validation ({subset})")
    if final_val is not None:
        ax.plot([final_step], [final_val], "D", color="black", ms=7,
                label=f"final validation (whole text): {final_val:.3f}")
    ax.axhline(1.7, color="grey", ls=":", lw=1, label="1.7 nats/char")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- command line ----------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", help="train on this UTF-8 text file (default: pydoc topics)")
    p.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    p.add_argument("--hidden", type=int, default=256, help="hidden units per layer")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=32, help="BPTT truncation length")
    p.add_argument("--batch", type=int, default=32, help="parallel streams per step")
    p.add_argument("--steps", type=int, default=2000, help="total training steps")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--clip", type=float, default=5.0, help="clip the gradient norm (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--val-every", type=int, default=250, help="validate every N steps")
    p.add_argument("--val-chars", type=int, default=10000,
                   help="characters used by the periodic validations (the final one uses "
                        "the whole validation text)")
    p.add_argument("--sample-every", type=int, default=500, help="print a sample every N steps")
    p.add_argument("--sample-len", type=int, default=200)
    p.add_argument("--backend", choices=["numpy", "jax"], default="numpy",
                   help="run the compiled steps with numpy (default) or as XLA programs "
                        "through JAX (pip install jax)")
    p.add_argument("--rebuild", action="store_true",
                   help="build and differentiate a new graph every step (dynamic style)")
    p.add_argument("--checkpoint", help="save model+optimiser+training state here")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--generate", type=int, metavar="N",
                   help="load --checkpoint and print N generated characters, then exit")
    p.add_argument("--prime", default="The ", help="text to start generation from")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--out", default="outputs", help="folder for the PNG (default: outputs)")
    p.add_argument("--quick", action="store_true",
                   help="tiny model, few steps, small corpus slice: finishes in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.quick:
        defaults = {"hidden": 32, "seq_len": 16, "batch": 8, "steps": 60, "val_every": 30,
                    "val_chars": 3000, "sample_every": 60, "sample_len": 80,
                    "checkpoint_every": 20}
        for k, v in defaults.items():
            if getattr(args, k) == p.get_default(k):
                setattr(args, k, v)
    return args


def generate(args):
    if not args.checkpoint:
        raise SystemExit("--generate needs --checkpoint PATH (a file saved by training)")
    arrays = nn.load_arrays(args.checkpoint)
    cfg = json.loads(str(arrays[TRAIN_PREFIX + "config"]))
    vocab = Vocab(str(arrays[TRAIN_PREFIX + "vocab"]))
    model = CharRNN(len(vocab), cfg["hidden"], cfg["layers"], cfg["cell"])
    result = model.load(args.checkpoint, strict=False)
    if result.missing_keys:
        raise SystemExit(f"{args.checkpoint}: missing parameters {result.missing_keys}")
    rng = np.random.default_rng(args.seed)
    text = Sampler(model).sample(vocab, args.generate, args.prime, args.temperature, rng)
    print(args.prime + text)
    return text


def run(args, log=print):
    """Train as the arguments say; returns a dict of results (used by the demo)."""
    from tqdm import tqdm
    text = load_text(args.text)
    if args.quick and args.text is None:
        text = text[:60000]
    os.makedirs(args.out, exist_ok=True)
    trainer = Trainer(args, text)
    if args.resume:
        if not (args.checkpoint and os.path.exists(args.checkpoint)):
            raise SystemExit("--resume needs an existing --checkpoint file")
        trainer.restore(args.checkpoint)
        log(f"resumed from {args.checkpoint} at step {trainer.step}")
    n_params = sum(p.value.size for p in trainer.model.parameters())
    log(f"corpus: {len(text):,} chars ({len(trainer.vocab)} distinct), "
        f"train {len(trainer.train_data):,} / validation {len(trainer.val_data):,}; "
        f"model: {args.layers}x{args.cell.upper()}({args.hidden}), {n_params:,} parameters; "
        f"{'dynamic graph (--rebuild)' if args.rebuild else 'compiled graph'}")
    sampler = None
    chars_per_step = args.seq_len * args.batch
    start = time.perf_counter()
    bar = tqdm(total=args.steps, initial=trainer.step, disable=args.no_progress,
               unit="step", dynamic_ncols=True, file=sys.stderr)
    t_last, s_last = time.perf_counter(), trainer.step
    while trainer.step < args.steps:
        loss = trainer.train_step()
        trainer.history["step"].append(trainer.step)
        trainer.history["train"].append(loss)
        now = time.perf_counter()
        if now - t_last > 0.5 or trainer.step == args.steps:
            rate = (trainer.step - s_last) * chars_per_step / max(now - t_last, 1e-9)
            bar.set_postfix(loss=f"{loss:.3f}", chars_s=f"{rate:,.0f}")
            t_last, s_last = now, trainer.step
        bar.update(1)
        if trainer.step % args.val_every == 0 or trainer.step == args.steps:
            val = trainer.validate(args.val_chars)
            trainer.history["val_step"].append(trainer.step)
            trainer.history["val"].append(val)
            bar.write(f"step {trainer.step}: train {loss:.3f}  validation (first "
                      f"{args.val_chars:,} chars) {val:.3f} nats/char"
                      f"  ({time.perf_counter() - start:.0f}s)")
        if args.sample_every and trainer.step % args.sample_every == 0:
            sampler = sampler or Sampler(trainer.model)
            s = sampler.sample(trainer.vocab, args.sample_len, args.prime, args.temperature,
                               trainer.sample_rng)
            bar.write(f"--- sample at step {trainer.step} ---\n{args.prime}{s}\n---")
        if args.checkpoint and (trainer.step % args.checkpoint_every == 0
                                or trainer.step == args.steps):
            trainer.save(args.checkpoint)
    bar.close()
    elapsed = time.perf_counter() - start
    final_val = trainer.validate()
    sampler = sampler or Sampler(trainer.model)
    sample = sampler.sample(trainer.vocab, args.sample_len, args.prime, args.temperature,
                            np.random.default_rng(args.seed + 2))
    png = os.path.join(args.out, "char_rnn_loss.png")
    plot_losses(trainer.history, png,
                f"char-rnn {args.layers}x{args.cell.upper()}({args.hidden}), "
                f"{trainer.step} steps", args.val_chars, final_val, trainer.step)
    history_path = os.path.join(args.out, "char_rnn_history.json")
    with open(history_path, "w") as handle:
        json.dump({**trainer.history, "val_chars": args.val_chars, "final_val": final_val,
                   "final_val_chars": len(trainer.val_data), "train_seconds": elapsed}, handle)
    log(f"final validation cross-entropy (whole validation text): {final_val:.4f} nats/char "
        f"({final_val / np.log(2):.3f} bits/char) after {trainer.step} steps; "
        f"training took {elapsed:.1f}s")
    log(f"sample (temperature {args.temperature}):\n{args.prime}{sample}")
    log(f"wrote {png}")
    log(f"wrote {history_path}")
    if args.checkpoint:
        log(f"checkpoint: {args.checkpoint}")
    return {"val": final_val, "sample": args.prime + sample, "png": png, "seconds": elapsed,
            "history": trainer.history, "trainer": trainer}


def main(argv=None):
    args = parse_args(argv)
    if args.generate is not None:
        generate(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
