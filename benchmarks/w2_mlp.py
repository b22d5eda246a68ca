"""W2: one SGD training step of a 784-256-256-10 MLP (ReLU, softmax cross-entropy).

Batch 128 of fixed-seed random data (a pool of batches, cycled), float64, SGD lr 0.01.
Loss: mean over the batch of the softmax cross-entropy. Layers compute ``x @ W + b``
with W of shape (in, out), the same layout in every system but the module ones (W.T).

Systems: numpy_by_hand (forward and backward written out), autodiff compiled (graph built
once, `ad.function` with the batch as input, new batches fed each step), autodiff dynamic
(graph rebuilt, differentiated and evaluated every step), autodiff modules compiled and
dynamic (the same two written with `autodiff.nn`: Sequential of Linear and ReLU,
nn.softmax_cross_entropy on the one-hot labels, nn.SGD; nn.Linear's weight is (out, in),
so the weights are loaded transposed and compared transposed back), torch (eager,
torch.optim.SGD), jax (the whole step under jax.jit), autograd (HIPS), and autodiff jax
(the graph on the jax backend: the whole step, SGD update included, one XLA program with
the parameters kept on the device through `updates`). The parameter update is part of
every step.
"""
import numpy as np

from harness import (System, Workload, import_peer, jax_backend_note, peer_note, REFERENCE,
                     timed_compile)

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01
POOL = 8  # distinct batches, cycled
NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def make_problem(seed=0, batch=BATCH):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params.append(rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in))
        params.append(rng.standard_normal(fan_out) * 0.1)
    xs = [rng.standard_normal((batch, SIZES[0])) for _ in range(POOL)]
    labels = [rng.integers(0, SIZES[-1], size=batch) for _ in range(POOL)]
    ys = [np.eye(SIZES[-1])[lab] for lab in labels]
    return params, xs, ys, labels


class _Cycle:
    """Each system walks the batch pool on its own counter."""

    def __init__(self):
        self.i = 0

    def next(self):
        i = self.i
        self.i = (i + 1) % POOL
        return i


# --- numpy by hand -------------------------------------------------------------------

def numpy_by_hand(problem):
    params0, xs, ys, _ = problem
    params = [p.copy() for p in params0]
    cyc = _Cycle()

    def loss_and_grads(x, y):
        W1, b1, W2, b2, W3, b3 = params
        z1 = x @ W1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2 + b2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ W3 + b3
        m = z3.max(axis=1, keepdims=True)
        e = np.exp(z3 - m)
        s = e.sum(axis=1, keepdims=True)
        logp = z3 - m - np.log(s)
        n = x.shape[0]
        loss = -np.sum(y * logp) / n
        dz3 = (e / s - y) / n
        dW3 = h2.T @ dz3
        db3 = dz3.sum(axis=0)
        dz2 = dz3 @ W3.T
        dz2 *= z2 > 0
        dW2 = h1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = dz2 @ W2.T
        dz1 *= z1 > 0
        dW1 = x.T @ dz1
        db1 = dz1.sum(axis=0)
        return loss, [dW1, db1, dW2, db2, dW3, db3]

    def step():
        i = cyc.next()
        loss, grads = loss_and_grads(xs[i], ys[i])
        for p, g in zip(params, grads):
            p -= LR * g
        return loss

    def values():
        loss, grads = loss_and_grads(xs[0], ys[0])
        return _named(loss, grads)

    return System(REFERENCE, step, values, lambda: [p.copy() for p in params])


def _named(loss, grads):
    out = {"loss": np.asarray(loss, dtype=np.float64)}
    out.update({"d" + n: np.asarray(g) for n, g in zip(NAMES, grads)})
    return out


# --- autodiff ------------------------------------------------------------------------

def _ad_loss(ad, params, x, y):
    W1, b1, W2, b2, W3, b3 = params
    h = ad.relu(x @ W1 + b1)
    h = ad.relu(h @ W2 + b2)
    logits = h @ W3 + b3
    return ad.mean(ad.SoftmaxCEWithLogits(y, logits))


def autodiff_compiled(problem):
    import autodiff as ad
    params0, xs, ys, _ = problem
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(params0, NAMES)]
    xb = ad.Variable(xs[0], name="x")
    yb = ad.Variable(ys[0], name="y")
    loss = _ad_loss(ad, params, xb, yb)
    grads = ad.grad(loss, params)
    f = ad.function([loss, *grads], inputs=[xb, yb])
    cyc = _Cycle()

    def step():
        i = cyc.next()
        loss_value, *grad_values = f(xs[i], ys[i])
        for p, g in zip(params, grad_values):
            p.value -= LR * g  # in place, then the setter stores (copies) it
        return loss_value

    def values():
        loss_value, *grad_values = f(xs[0], ys[0])
        return _named(loss_value, grad_values)

    return System("autodiff compiled", step, values, lambda: [p.value.copy() for p in params])


def autodiff_dynamic(problem):
    import autodiff as ad
    params0, xs, ys, _ = problem
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(params0, NAMES)]
    cyc = _Cycle()

    def run(i):
        loss = _ad_loss(ad, params, xs[i], ys[i])  # batch arrays become Constants
        grads = ad.grad(loss, params)
        return ad.evaluate([loss, *grads])

    def step():
        loss_value, *grad_values = run(cyc.next())
        for p, g in zip(params, grad_values):
            p.value -= LR * g
        return loss_value

    def values():
        loss_value, *grad_values = run(0)
        return _named(loss_value, grad_values)

    return System("autodiff dynamic", step, values, lambda: [p.value.copy() for p in params])


def autodiff_jax(problem):
    """The whole step as one XLA program (backend="jax"): loss, gradients and the SGD
    update given as `updates`, so the parameters stay on the device between steps. The
    batches are given as jax arrays, as the jax (jit) system gets them."""
    import autodiff as ad
    import jax
    params0, xs, ys, _ = problem
    params = [ad.Variable(p.copy(), name=n) for p, n in zip(params0, NAMES)]
    xb = ad.Variable(xs[0], name="x")
    yb = ad.Variable(ys[0], name="y")
    loss = _ad_loss(ad, params, xb, yb)
    grads = ad.grad(loss, params)
    f, compiled = timed_compile(lambda: ad.function(
        loss, inputs=[xb, yb], updates={p: p - LR * g for p, g in zip(params, grads)},
        backend="jax"))
    check = ad.function([loss, *grads], inputs=[xb, yb], backend="jax")
    with jax.enable_x64(True):
        xj = [jax.device_put(x) for x in xs]
        yj = [jax.device_put(y) for y in ys]
    cyc = _Cycle()

    def step():
        i = cyc.next()
        return f(xj[i], yj[i])  # a numpy value: waits for the program

    def values():
        loss_value, *grad_values = check(xs[0], ys[0])
        return _named(loss_value, grad_values)

    return System("autodiff jax", step, values, lambda: [p.value.copy() for p in params],
                  compile=compiled)


# --- autodiff with nn modules --------------------------------------------------------

def _mlp_modules(nn, params0):
    """The MLP as nn modules, holding the problem's initial parameters."""
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    names = [name for name, _ in model.named_parameters()]  # the order of NAMES
    model.load_state_dict({n: _modules_layout(p) for n, p in zip(names, params0)})
    return model


def _modules_layout(array):
    """A raw parameter (W of shape (in, out), or b) in nn.Linear's layout."""
    # nn.Linear's weight is (out, in); C order, as a fresh one (W.T alone is Fortran order)
    return np.ascontiguousarray(array.T)


def _raw_layout(arrays):
    """Module parameters or gradients back in the raw layout (W (in, out)), as copies."""
    return [np.array(a.T) for a in arrays]


def _modules_loss(nn, model, x, y):
    """Mean softmax cross-entropy of the model's logits (y one-hot, as for _ad_loss)."""
    return nn.softmax_cross_entropy(model(x), y, reduction="mean")


def autodiff_modules_compiled(problem):
    """autodiff compiled, written with nn modules, nn.softmax_cross_entropy and nn.SGD."""
    import autodiff as ad
    from autodiff import nn
    params0, xs, ys, _ = problem
    model = _mlp_modules(nn, params0)
    params = model.parameters()
    opt = nn.SGD(params, lr=LR)
    xb = ad.Variable(xs[0], name="x")
    yb = ad.Variable(ys[0], name="y")
    loss = _modules_loss(nn, model, xb, yb)
    grads = ad.grad(loss, params)
    f = ad.function([loss, *grads], inputs=[xb, yb])
    cyc = _Cycle()

    def step():
        i = cyc.next()
        loss_value, *grad_values = f(xs[i], ys[i])
        opt.step(grad_values)
        return loss_value

    def values():
        loss_value, *grad_values = f(xs[0], ys[0])
        return _named(loss_value, _raw_layout(grad_values))

    return System("autodiff modules compiled", step, values,
                  lambda: _raw_layout(p.value for p in params))


def autodiff_modules_dynamic(problem):
    """autodiff dynamic, written with nn modules, nn.softmax_cross_entropy and nn.SGD."""
    import autodiff as ad
    from autodiff import nn
    params0, xs, ys, _ = problem
    model = _mlp_modules(nn, params0)
    params = model.parameters()
    opt = nn.SGD(params, lr=LR)
    cyc = _Cycle()

    def run(i):
        loss = _modules_loss(nn, model, xs[i], ys[i])
        return ad.evaluate([loss, *ad.grad(loss, params)])

    def step():
        loss_value, *grad_values = run(cyc.next())
        opt.step(grad_values)
        return loss_value

    def values():
        loss_value, *grad_values = run(0)
        return _named(loss_value, _raw_layout(grad_values))

    return System("autodiff modules dynamic", step, values,
                  lambda: _raw_layout(p.value for p in params))


# --- peers ---------------------------------------------------------------------------

def torch_system(problem):
    torch = import_peer("torch")
    F = torch.nn.functional
    params0, xs, ys, labels = problem
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params0]
    xt = [torch.from_numpy(x) for x in xs]
    lt = [torch.from_numpy(lab) for lab in labels]
    opt = torch.optim.SGD(params, lr=LR)

    def loss_fn(i):
        W1, b1, W2, b2, W3, b3 = params
        h = torch.relu(xt[i] @ W1 + b1)
        h = torch.relu(h @ W2 + b2)
        return F.cross_entropy(h @ W3 + b3, lt[i])

    cyc = _Cycle()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(cyc.next())
        loss.backward()
        opt.step()
        return loss.item()

    def values():
        loss = loss_fn(0)
        grads = torch.autograd.grad(loss, params)
        return _named(loss.item(), [g.numpy() for g in grads])

    return System("torch", step, values, lambda: [p.detach().numpy().copy() for p in params])


def jax_system(problem):
    jax = import_peer("jax")
    import jax.numpy as jnp
    params0, xs, ys, _ = problem
    xj = [jnp.asarray(x) for x in xs]
    yj = [jnp.asarray(y) for y in ys]

    def loss_fn(params, x, y):
        W1, b1, W2, b2, W3, b3 = params
        h = jax.nn.relu(x @ W1 + b1)
        h = jax.nn.relu(h @ W2 + b2)
        logits = h @ W3 + b3
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits, axis=-1), axis=-1))

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))

    @jax.jit
    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], loss

    state = {"params": [jnp.asarray(p) for p in params0]}
    cyc = _Cycle()

    def step():
        i = cyc.next()
        params, loss = train_step(state["params"], xj[i], yj[i])
        jax.block_until_ready(params)
        state["params"] = params
        return loss

    def values():
        loss, grads = value_and_grad(state["params"], xj[0], yj[0])
        return _named(np.asarray(loss), [np.asarray(g) for g in grads])

    return System("jax (jit)", step, values, lambda: [np.asarray(p) for p in state["params"]])


def autograd_system(problem):
    import_peer("autograd")
    import autograd.numpy as anp
    from autograd import value_and_grad
    from autograd.scipy.special import logsumexp
    params0, xs, ys, _ = problem

    def loss_fn(params, x, y):
        W1, b1, W2, b2, W3, b3 = params
        h = anp.maximum(anp.dot(x, W1) + b1, 0)
        h = anp.maximum(anp.dot(h, W2) + b2, 0)
        logits = anp.dot(h, W3) + b3
        logp = logits - logsumexp(logits, axis=1, keepdims=True)
        return -anp.sum(y * logp) / x.shape[0]

    vg = value_and_grad(loss_fn)
    params = [p.copy() for p in params0]
    cyc = _Cycle()

    def step():
        i = cyc.next()
        loss, grads = vg(params, xs[i], ys[i])
        for p, g in zip(params, grads):
            p -= LR * g
        return loss

    def values():
        loss, grads = vg(params, xs[0], ys[0])
        return _named(loss, grads)

    return System("autograd", step, values, lambda: [p.copy() for p in params])


def build(quick=False, skip=()):
    problem = make_problem()
    systems, notes = [numpy_by_hand(problem)], []
    for name, make in (("autodiff compiled", autodiff_compiled),
                       ("autodiff dynamic", autodiff_dynamic),
                       ("autodiff modules compiled", autodiff_modules_compiled),
                       ("autodiff modules dynamic", autodiff_modules_dynamic)):
        if name not in skip:
            systems.append(make(problem))
    if "autodiff jax" not in skip:
        note = jax_backend_note()
        if note:
            notes.append(note)
        else:
            systems.append(autodiff_jax(problem))
    for peer, make in (("torch", torch_system), ("jax", jax_system),
                       ("autograd", autograd_system)):
        if import_peer(peer) is None:
            notes.append(peer_note(peer))
        else:
            systems.append(make(problem))
    return Workload("W2", "MLP 784-256-256-10 ReLU, softmax CE, batch 128, SGD lr 0.01",
                    systems, steps=10 if quick else 100, warmup=2 if quick else 10,
                    check_steps=2 if quick else 3,
                    notes=notes)

