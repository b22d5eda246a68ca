"""W3: one training step of a vanilla char-RNN (min-char-rnn style), batch 1 and 32.

Vocabulary 65, hidden 100, sequence length 25, ``h_t = tanh(x_t @ Wxh + h_{t-1} @ Whh + bh)``,
``logits_t = h_t @ Why + by``; loss = sum over the 25 time steps of the softmax
cross-entropy, averaged over the batch (for batch 1: exactly min-char-rnn's loss). Inputs
are one-hot rows, fixed-seed random characters. The hidden state is carried from one step
to the next (as data: no gradient flows into it). Gradients are clipped to [-5, 5], then
Adagrad with lr 0.1 in torch's form, ``G += g*g; p -= lr * g / (sqrt(G) + 1e-10)``, so
that torch.optim.Adagrad is the same update.

Systems as in W2: numpy_by_hand (BPTT written out), autodiff compiled (one `ad.function`
with the batch and the initial hidden state as inputs) and dynamic (graph rebuilt every
step), autodiff modules compiled and dynamic (the same two written with `autodiff.nn`:
nn.RNNCell over the sequence, an nn.Linear output layer, nn.softmax_cross_entropy,
nn.clip_grad_value, nn.Adagrad; weights loaded transposed, as nn's are (out, in); the
cell's two biases start as bias_ih = bh, bias_hh = 0, and only bias_ih is trained), torch
(eager, torch.optim.Adagrad, clip_grad_value_), jax (whole step jitted, the time loop a
lax.scan), autograd; autodiff scan (autodiff compiled with the loop as one `ad.scan`) and
autodiff jax (the loop an `ad.scan`, the whole step with clipping and Adagrad one XLA
program through `updates`, on the jax backend).
"""
import numpy as np

from harness import (System, Workload, import_peer, jax_backend_note, peer_note, REFERENCE,
                     timed_compile)

VOCAB, HIDDEN, SEQ = 65, 100, 25
LR, CLIP, EPS = 0.1, 5.0, 1e-10
POOL = 8
NAMES = ("Wxh", "Whh", "bh", "Why", "by")


def make_problem(batch, seed=1, seq=SEQ, pool=POOL):
    """Parameters and a pool of one-hot batches (xs, ys; integer xi, yi) of `seq` steps."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((VOCAB, HIDDEN)) * 0.01,
              rng.standard_normal((HIDDEN, HIDDEN)) * 0.01,
              np.zeros(HIDDEN),
              rng.standard_normal((HIDDEN, VOCAB)) * 0.01,
              np.zeros(VOCAB)]
    eye = np.eye(VOCAB)
    xs, ys, xi, yi = [], [], [], []
    for _ in range(pool):
        chars = rng.integers(0, VOCAB, size=(seq + 1, batch))
        xi.append(chars[:-1])
        yi.append(chars[1:])
        xs.append(eye[chars[:-1]])   # (seq, batch, VOCAB) one-hot
        ys.append(eye[chars[1:]])
    return {"batch": batch, "seq": seq, "params": params, "xs": xs, "ys": ys, "xi": xi,
            "yi": yi}


class _State:
    """Batch counter and carried hidden state of one system."""

    def __init__(self, batch):
        self.i = 0
        self.h = np.zeros((batch, HIDDEN))

    def next(self):
        i = self.i
        self.i = (i + 1) % POOL
        return i


def _clip_adagrad(params, grads, mems):
    for p, g, m in zip(params, grads, mems):
        np.clip(g, -CLIP, CLIP, out=g)
        m += g * g
        p -= LR * g / (np.sqrt(m) + EPS)


def _named(loss, grads):
    out = {"loss": np.asarray(loss, dtype=np.float64)}
    out.update({"d" + n: np.asarray(g) for n, g in zip(NAMES, grads)})
    return out


# --- numpy by hand -------------------------------------------------------------------

def rnn_loss_and_grads(params, X, Y, h0, batch):
    """The vanilla RNN by hand: loss (summed over time, averaged over the batch), the
    gradients of (Wxh, Whh, bh, Why, by), and the last hidden state. Shared with W6."""
    Wxh, Whh, bh, Why, by = params
    hs, ps = [h0], []
    loss = 0.0
    for t in range(len(X)):
        h = np.tanh(X[t] @ Wxh + hs[-1] @ Whh + bh)
        hs.append(h)
        o = h @ Why + by
        o = o - o.max(axis=1, keepdims=True)
        e = np.exp(o)
        s = e.sum(axis=1, keepdims=True)
        loss -= np.sum(Y[t] * (o - np.log(s)))
        ps.append(e / s)
    loss /= batch
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(X))):
        do = (ps[t] - Y[t]) / batch
        dWhy += hs[t + 1].T @ do
        dby += do.sum(axis=0)
        dh = do @ Why.T + dh_next
        dz = (1 - hs[t + 1] * hs[t + 1]) * dh
        dbh += dz.sum(axis=0)
        dWxh += X[t].T @ dz
        dWhh += hs[t].T @ dz
        dh_next = dz @ Whh.T
    return loss, [dWxh, dWhh, dbh, dWhy, dby], hs[-1]


def numpy_by_hand(pb):
    B = pb["batch"]
    params = [p.copy() for p in pb["params"]]
    mems = [np.zeros_like(p) for p in params]
    st = _State(B)

    def loss_and_grads(X, Y, h0):
        return rnn_loss_and_grads(params, X, Y, h0, B)

    def step():
        i = st.next()
        loss, grads, st.h = loss_and_grads(pb["xs"][i], pb["ys"][i], st.h)
        _clip_adagrad(params, grads, mems)
        return loss

    def values():
        loss, grads, _ = loss_and_grads(pb["xs"][0], pb["ys"][0], np.zeros((B, HIDDEN)))
        return _named(loss, grads)

    return System(REFERENCE, step, values, lambda: [p.copy() for p in params])


# --- autodiff ------------------------------------------------------------------------

def _ad_rnn(ad, params, xs, ys, h, batch):
    """Loss and last hidden state; xs, ys index to per-time-step (batch, VOCAB) rows."""
    Wxh, Whh, bh, Why, by = params
    loss = None
    for t in range(SEQ):
        h = ad.tanh(xs[t] @ Wxh + h @ Whh + bh)
        logits = h @ Why + by
        ce = ad.sum(ad.SoftmaxCEWithLogits(ys[t], logits))
        loss = ce if loss is None else loss + ce
    return loss * (1.0 / batch), h


def autodiff_compiled(pb):
    return _compiled_system(pb, "autodiff compiled", _ad_rnn)


def _compiled_system(pb, name, rnn):
    """The graph built once by `rnn` (unrolled or a scan), `ad.function` of the loss, the
    gradients and the last hidden state; clipping and Adagrad in numpy."""
    import autodiff as ad
    B = pb["batch"]
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(pb["params"], NAMES)]
    mems = [np.zeros_like(p) for p in pb["params"]]
    X = ad.Variable(pb["xs"][0], name="x")
    Y = ad.Variable(pb["ys"][0], name="y")
    h0 = ad.Variable(np.zeros((B, HIDDEN)), name="h0")
    loss, h_last = rnn(ad, params, X, Y, h0, B)
    grads = ad.grad(loss, params)
    f, compiled = timed_compile(lambda: ad.function([loss, *grads, h_last], inputs=[X, Y, h0]))
    st = _State(B)

    def step():
        i = st.next()
        loss_value, *grad_values, st.h = f(pb["xs"][i], pb["ys"][i], st.h)
        values = [p.value for p in params]
        _clip_adagrad(values, grad_values, mems)
        for p, v in zip(params, values):
            p.value = v
        return loss_value

    def values():
        loss_value, *grad_values, _ = f(pb["xs"][0], pb["ys"][0], np.zeros((B, HIDDEN)))
        return _named(loss_value, grad_values)

    return System(name, step, values, lambda: [p.value.copy() for p in params],
                  compile=compiled)



def autodiff_dynamic(pb):
    import autodiff as ad
    B = pb["batch"]
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(pb["params"], NAMES)]
    mems = [np.zeros_like(p) for p in pb["params"]]
    st = _State(B)

    def run(i, h0):
        loss, h_last = _ad_rnn(ad, params, pb["xs"][i], pb["ys"][i], h0, B)
        grads = ad.grad(loss, params)
        return ad.evaluate([loss, *grads, h_last])

    def step():
        loss_value, *grad_values, st.h = run(st.next(), st.h)
        values = [p.value for p in params]
        _clip_adagrad(values, grad_values, mems)
        for p, v in zip(params, values):
            p.value = v
        return loss_value

    def values():
        loss_value, *grad_values, _ = run(0, np.zeros((B, HIDDEN)))
        return _named(loss_value, grad_values)

    return System("autodiff dynamic", step, values, lambda: [p.value.copy() for p in params])


def _ad_rnn_scan(ad, params, X, Y, h, batch):
    """_ad_rnn with the time loop as one `ad.scan` over the sequences X, Y (T, batch, V)."""
    Wxh, Whh, bh, Why, by = params

    def cell(h, xy):
        x, y = xy
        h = ad.tanh(x @ Wxh + h @ Whh + bh)
        return h, ad.sum(ad.SoftmaxCEWithLogits(y, h @ Why + by))

    h_last, losses = ad.scan(cell, h, (X, Y))
    return ad.sum(losses) * (1.0 / batch), h_last


def autodiff_scan(pb):
    """autodiff compiled with the loop written as `ad.scan` (numpy backend): one loop node
    instead of 25 unrolled cells; update in numpy as in autodiff compiled."""
    return _compiled_system(pb, "autodiff scan", _ad_rnn_scan)


def _ad_clip_adagrad(ad, params, grads, mems):
    """The updates of clipping and Adagrad as graph nodes: {Variable: its new value}."""
    updates = {}
    for p, g, m in zip(params, grads, mems):
        g = ad.clip(g, -CLIP, CLIP)
        new_m = m + g * g
        updates[m] = new_m
        updates[p] = p - LR * g / (ad.sqrt(new_m) + EPS)
    return updates


def autodiff_jax(pb):
    """The whole step as one XLA program (backend="jax"): the loop an `ad.scan`, then
    gradients, clipping and Adagrad as `updates`; parameters, Adagrad's accumulators and
    the carried hidden state are Variables that stay on the device between steps. The
    batches are given as jax arrays, as the jax (jit) system gets them."""
    import autodiff as ad
    import jax
    B = pb["batch"]
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(pb["params"], NAMES)]
    mems = [ad.Variable(np.zeros_like(p), name="G" + n) for p, n in zip(pb["params"], NAMES)]
    X = ad.Variable(pb["xs"][0], name="x")
    Y = ad.Variable(pb["ys"][0], name="y")
    h = ad.Variable(np.zeros((B, HIDDEN)), name="h")
    loss, h_last = _ad_rnn_scan(ad, params, X, Y, h, B)
    grads = ad.grad(loss, params)
    updates = _ad_clip_adagrad(ad, params, grads, mems)
    updates[h] = h_last  # carried to the next step, on the device
    f, compiled = timed_compile(lambda: ad.function(loss, inputs=[X, Y], updates=updates,
                                                    backend="jax"))
    check = ad.function([loss, *grads], inputs=[X, Y, h], backend="jax")
    with jax.enable_x64(True):
        xs = [jax.device_put(x) for x in pb["xs"]]
        ys = [jax.device_put(y) for y in pb["ys"]]
    st = _State(B)

    def step():
        i = st.next()
        return f(xs[i], ys[i])  # a numpy value: waits for the program

    def values():
        loss_value, *grad_values = check(pb["xs"][0], pb["ys"][0], np.zeros((B, HIDDEN)))
        return _named(loss_value, grad_values)

    return System("autodiff jax", step, values, lambda: [p.value.copy() for p in params],
                  compile=compiled)


# --- autodiff with nn modules --------------------------------------------------------

def _rnn_modules(nn, params0):
    """nn.RNNCell(65, 100) and the output nn.Linear(100, 65) in one Module, holding the
    problem's initial parameters, and the parameters to train."""
    model = nn.Module()
    model.cell = nn.RNNCell(VOCAB, HIDDEN)
    model.out = nn.Linear(HIDDEN, VOCAB)
    Wxh, Whh, bh, Why, by = params0
    # weights are (out, in) in nn (C order, as fresh ones); bias_hh = 0: bias_ih + bias_hh = bh
    model.load_state_dict({"cell.weight_ih": np.ascontiguousarray(Wxh.T),
                           "cell.weight_hh": np.ascontiguousarray(Whh.T),
                           "cell.bias_ih": bh, "cell.bias_hh": np.zeros(HIDDEN),
                           "out.weight": np.ascontiguousarray(Why.T), "out.bias": by})
    # bias_hh stays 0: trained too, it would take a second Adagrad step on bias_ih's
    # gradient and the model would drift from the one-bias RNN of the other systems
    params = [p for p in model.parameters() if p is not model.cell.bias_hh]
    return model, params


def _raw_layout(arrays):
    """Module gradients or parameters (order of NAMES) back in the raw layout, as copies."""
    return [np.array(a.T) for a in arrays]


def _raw_params(model):
    """The model's parameters as the raw systems hold them: Wxh, Whh, bh, Why, by."""
    cell, out = model.cell, model.out
    bh = cell.bias_ih.value + cell.bias_hh.value
    return _raw_layout([cell.weight_ih.value, cell.weight_hh.value, bh, out.weight.value,
                        out.bias.value])


def _modules_rnn(nn, model, xs, ys, h, batch):
    """_ad_rnn written with the model's cell and output layer and nn.softmax_cross_entropy."""
    loss = None
    for t in range(SEQ):
        h = model.cell(xs[t], h)
        ce = nn.softmax_cross_entropy(model.out(h), ys[t], reduction="sum")
        loss = ce if loss is None else loss + ce
    return loss * (1.0 / batch), h


def autodiff_modules_compiled(pb):
    """autodiff compiled, written with nn modules, nn.clip_grad_value and nn.Adagrad."""
    import autodiff as ad
    from autodiff import nn
    B = pb["batch"]
    model, params = _rnn_modules(nn, pb["params"])
    opt = nn.Adagrad(params, lr=LR, eps=EPS)
    X = ad.Variable(pb["xs"][0], name="x")
    Y = ad.Variable(pb["ys"][0], name="y")
    h0 = ad.Variable(np.zeros((B, HIDDEN)), name="h0")
    loss, h_last = _modules_rnn(nn, model, X, Y, h0, B)
    grads = ad.grad(loss, params)
    f = ad.function([loss, *grads, h_last], inputs=[X, Y, h0])
    st = _State(B)

    def step():
        i = st.next()
        loss_value, *grad_values, st.h = f(pb["xs"][i], pb["ys"][i], st.h)
        opt.step(nn.clip_grad_value(grad_values, CLIP))
        return loss_value

    def values():
        loss_value, *grad_values, _ = f(pb["xs"][0], pb["ys"][0], np.zeros((B, HIDDEN)))
        return _named(loss_value, _raw_layout(grad_values))

    return System("autodiff modules compiled", step, values, lambda: _raw_params(model))


def autodiff_modules_dynamic(pb):
    """autodiff dynamic, written with nn modules, nn.clip_grad_value and nn.Adagrad."""
    import autodiff as ad
    from autodiff import nn
    B = pb["batch"]
    model, params = _rnn_modules(nn, pb["params"])
    opt = nn.Adagrad(params, lr=LR, eps=EPS)
    st = _State(B)

    def run(i, h0):
        loss, h_last = _modules_rnn(nn, model, pb["xs"][i], pb["ys"][i], h0, B)
        return ad.evaluate([loss, *ad.grad(loss, params), h_last])

    def step():
        loss_value, *grad_values, st.h = run(st.next(), st.h)
        opt.step(nn.clip_grad_value(grad_values, CLIP))
        return loss_value

    def values():
        loss_value, *grad_values, _ = run(0, np.zeros((B, HIDDEN)))
        return _named(loss_value, _raw_layout(grad_values))

    return System("autodiff modules dynamic", step, values, lambda: _raw_params(model))


# --- peers ---------------------------------------------------------------------------

def torch_system(pb):
    torch = import_peer("torch")
    F = torch.nn.functional
    B = pb["batch"]
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in pb["params"]]
    xs = [torch.from_numpy(x) for x in pb["xs"]]
    ys = [torch.from_numpy(y) for y in pb["yi"]]
    opt = torch.optim.Adagrad(params, lr=LR, eps=EPS)
    st = _State(B)
    st.h = torch.zeros((B, HIDDEN), dtype=torch.float64)

    def forward(i, h):
        Wxh, Whh, bh, Why, by = params
        X, Y = xs[i], ys[i]
        loss = 0
        for t in range(SEQ):
            h = torch.tanh(X[t] @ Wxh + h @ Whh + bh)
            loss = loss + F.cross_entropy(h @ Why + by, Y[t], reduction="sum")
        return loss / B, h

    def step():
        opt.zero_grad(set_to_none=True)
        loss, h = forward(st.next(), st.h)
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, CLIP)
        opt.step()
        st.h = h.detach()
        return loss.item()

    def values():
        loss, _ = forward(0, torch.zeros((B, HIDDEN), dtype=torch.float64))
        grads = torch.autograd.grad(loss, params)
        return _named(loss.item(), [g.numpy() for g in grads])

    return System("torch", step, values, lambda: [p.detach().numpy().copy() for p in params])


def jax_system(pb):
    jax = import_peer("jax")
    import jax.numpy as jnp
    B = pb["batch"]
    xs = [jnp.asarray(x) for x in pb["xs"]]
    ys = [jnp.asarray(y) for y in pb["ys"]]

    def loss_fn(params, X, Y, h0):
        Wxh, Whh, bh, Why, by = params

        def cell(h, xy):
            x, y = xy
            h = jnp.tanh(x @ Wxh + h @ Whh + bh)
            logp = jax.nn.log_softmax(h @ Why + by, axis=-1)
            return h, -jnp.sum(y * logp)

        h_last, losses = jax.lax.scan(cell, h0, (X, Y))
        return jnp.sum(losses) / B, h_last

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    values_fn = jax.jit(grad_fn)

    @jax.jit
    def train_step(params, mems, X, Y, h0):
        (loss, h_last), grads = grad_fn(params, X, Y, h0)
        new_params, new_mems = [], []
        for p, g, m in zip(params, grads, mems):
            g = jnp.clip(g, -CLIP, CLIP)
            m = m + g * g
            new_params.append(p - LR * g / (jnp.sqrt(m) + EPS))
            new_mems.append(m)
        return new_params, new_mems, loss, h_last

    state = {"params": [jnp.asarray(p) for p in pb["params"]],
             "mems": [jnp.zeros(p.shape) for p in pb["params"]],
             "h": jnp.zeros((B, HIDDEN))}
    st = _State(B)

    def step():
        i = st.next()
        params, mems, loss, h = train_step(state["params"], state["mems"], xs[i], ys[i],
                                           state["h"])
        jax.block_until_ready((params, mems, h))
        state.update(params=params, mems=mems, h=h)
        return loss

    def values():
        (loss, _), grads = values_fn(state["params"], xs[0], ys[0], jnp.zeros((B, HIDDEN)))
        return _named(np.asarray(loss), [np.asarray(g) for g in grads])

    return System("jax (jit)", step, values, lambda: [np.asarray(p) for p in state["params"]])


def autograd_system(pb):
    import_peer("autograd")
    import autograd.numpy as anp
    from autograd import grad_and_aux
    from autograd.tracer import getval
    from autograd.scipy.special import logsumexp
    B = pb["batch"]

    def loss_fn(params, X, Y, h):
        Wxh, Whh, bh, Why, by = params
        loss = 0.0
        for t in range(SEQ):
            h = anp.tanh(anp.dot(X[t], Wxh) + anp.dot(h, Whh) + bh)
            o = anp.dot(h, Why) + by
            loss = loss - anp.sum(Y[t] * (o - logsumexp(o, axis=1, keepdims=True)))
        loss = loss / B
        return loss, (loss, h)  # aux: the loss value and the carried hidden state

    ga = grad_and_aux(loss_fn)
    params = [p.copy() for p in pb["params"]]
    mems = [np.zeros_like(p) for p in params]
    st = _State(B)

    def step():
        i = st.next()
        grads, (loss, h) = ga(params, pb["xs"][i], pb["ys"][i], st.h)
        st.h = getval(h)
        _clip_adagrad(params, [np.array(g) for g in grads], mems)
        return getval(loss)

    def values():
        grads, (loss, _) = ga(params, pb["xs"][0], pb["ys"][0], np.zeros((B, HIDDEN)))
        return _named(getval(loss), grads)

    return System("autograd", step, values, lambda: [p.copy() for p in params])


def build(batch, quick=False, skip=()):
    pb = make_problem(batch)
    systems, notes = [numpy_by_hand(pb)], []
    for name, make in (("autodiff compiled", autodiff_compiled),
                       ("autodiff dynamic", autodiff_dynamic),
                       ("autodiff modules compiled", autodiff_modules_compiled),
                       ("autodiff modules dynamic", autodiff_modules_dynamic),
                       ("autodiff scan", autodiff_scan)):
        if name not in skip:
            systems.append(make(pb))
    if "autodiff jax" not in skip:
        note = jax_backend_note()
        if note:
            notes.append(note)
        else:
            systems.append(autodiff_jax(pb))
    for peer, make in (("torch", torch_system), ("jax", jax_system),
                       ("autograd", autograd_system)):
        if import_peer(peer) is None:
            notes.append(peer_note(peer))
        else:
            s = make(pb)
            systems.append(s)
            if s.note:
                notes.append(s.note)
    return Workload(f"W3b{batch}", f"char-RNN V65 H100 T25 tanh, CE summed over time, "
                    f"Adagrad lr 0.1, clip 5, batch {batch}",
                    systems, steps=10 if quick else 100, warmup=2 if quick else 10,
                    check_steps=2 if quick else 3,
                    notes=notes)
