"""W5: gradient of L = sum(einsum('bij,bjk,bkl->bil', A, B, C)**2), b = 32, other dims 64.

One timed unit = L and its gradients with respect to A, B and C (no update).

Systems: numpy_by_hand (batched matmuls, shared intermediates: AB, D = AB @ C, G = 2D,
GC = G @ C^T; dA = GC @ B^T, dB = A^T @ GC, dC = AB^T @ G: six matmuls),
numpy einsum (the same maths as four three-operand ``np.einsum(..., optimize=True)``
calls written the obvious way, no intermediates shared: what a user gets from einsum
without thinking about the order), autodiff compiled (`ad.einsum` + `ad.grad` +
`ad.function`) and dynamic (rebuilt every call), autodiff jax (the compiled graph on the
jax backend), torch (torch.einsum + autograd), jax (jit of value_and_grad), autograd.
"""
import numpy as np

from harness import (System, Workload, import_peer, jax_backend_note, peer_note, REFERENCE,
                     timed_compile)

BATCH, DIM = 32, 64
SUBSCRIPTS = "bij,bjk,bkl->bil"


def make_problem(seed=5):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((BATCH, DIM, DIM)) / np.sqrt(DIM) for _ in range(3)]


def _named(loss, grads):
    out = {"loss": np.asarray(loss, dtype=np.float64)}
    out.update({"d" + n: np.asarray(g) for n, g in zip("ABC", grads)})
    return out


def numpy_by_hand(abc):
    A, B, C = abc

    def run():
        AB = A @ B
        D = AB @ C
        loss = np.sum(D * D)
        G = 2 * D
        GC = G @ C.transpose(0, 2, 1)
        return loss, [GC @ B.transpose(0, 2, 1), A.transpose(0, 2, 1) @ GC,
                      AB.transpose(0, 2, 1) @ G]

    return System(REFERENCE, run, lambda: _named(*run()))


def numpy_einsum(abc):
    A, B, C = abc

    def run():
        D = np.einsum(SUBSCRIPTS, A, B, C, optimize=True)
        G = 2 * D
        return np.sum(D * D), [np.einsum("bil,bjk,bkl->bij", G, B, C, optimize=True),
                               np.einsum("bij,bil,bkl->bjk", A, G, C, optimize=True),
                               np.einsum("bij,bjk,bil->bkl", A, B, G, optimize=True)]

    return System("numpy einsum(optimize)", run, lambda: _named(*run()))


def autodiff_compiled(abc):
    import autodiff as ad
    A, B, C = (ad.Variable(v.copy(), name=n) for v, n in zip(abc, "ABC"))
    loss = ad.sum(ad.einsum(SUBSCRIPTS, A, B, C) ** 2)
    f = ad.function([loss, *ad.grad(loss, [A, B, C])], inputs=[A, B, C])
    values = [v.copy() for v in abc]

    def run():
        loss_value, *grads = f(*values)
        return loss_value, grads

    return System("autodiff compiled", run, lambda: _named(*run()))


def autodiff_dynamic(abc):
    import autodiff as ad
    variables = [ad.Variable(v.copy(), name=n) for v, n in zip(abc, "ABC")]

    def run():
        loss = ad.sum(ad.einsum(SUBSCRIPTS, *variables) ** 2)
        loss_value, *grads = ad.evaluate([loss, *ad.grad(loss, variables)])
        return loss_value, grads

    return System("autodiff dynamic", run, lambda: _named(*run()))


def autodiff_jax(abc):
    """autodiff compiled on the jax backend: one XLA program for the loss and the three
    gradients; A, B, C given as jax arrays, as the jax (jit) system gets them."""
    import autodiff as ad
    import jax
    A, B, C = (ad.Variable(v.copy(), name=n) for v, n in zip(abc, "ABC"))
    loss = ad.sum(ad.einsum(SUBSCRIPTS, A, B, C) ** 2)
    f, compiled = timed_compile(lambda: ad.function([loss, *ad.grad(loss, [A, B, C])],
                                                    inputs=[A, B, C], backend="jax"))
    with jax.enable_x64(True):
        values = [jax.device_put(v) for v in abc]

    def run():
        loss_value, *grads = f(*values)  # numpy values: waits for the program
        return loss_value, grads

    return System("autodiff jax", run, lambda: _named(*run()), compile=compiled)


def torch_system(abc):
    torch = import_peer("torch")
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in abc]

    def run():
        loss = torch.sum(torch.einsum(SUBSCRIPTS, *tensors) ** 2)
        grads = torch.autograd.grad(loss, tensors)
        return loss.item(), grads

    def values():
        loss, grads = run()
        return _named(loss, [g.numpy() for g in grads])

    return System("torch", run, values)


def jax_system(abc):
    jax = import_peer("jax")
    import jax.numpy as jnp
    arrays = [jnp.asarray(v) for v in abc]
    vg = jax.jit(jax.value_and_grad(lambda A, B, C: jnp.sum(jnp.einsum(SUBSCRIPTS, A, B, C) ** 2),
                                    argnums=(0, 1, 2)))

    def run():
        out = vg(*arrays)
        jax.block_until_ready(out)
        return out

    def values():
        loss, grads = run()
        return _named(np.asarray(loss), [np.asarray(g) for g in grads])

    return System("jax (jit)", run, values)


def autograd_system(abc):
    import_peer("autograd")
    import autograd.numpy as anp
    from autograd import value_and_grad

    # autograd's einsum gradient rule drops `optimize`, so one three-operand einsum
    # costs ~1.6 s per gradient here (unoptimised nested loops). Written as two pairwise
    # einsums instead, which is what an autograd user has to do.
    def loss_fn(A, B, C):
        return anp.sum(anp.einsum("bik,bkl->bil", anp.einsum("bij,bjk->bik", A, B), C) ** 2)

    vg = value_and_grad(loss_fn, argnum=(0, 1, 2))
    return System("autograd (pairwise einsum)", lambda: vg(*abc), lambda: _named(*vg(*abc)))


AUTOGRAD_NOTE = ("autograd: its einsum vjp drops optimize=True, so the gradient einsums of "
                 "the 3-operand form run unoptimised (~1.6 s per call here); timed with the "
                 "contraction written as two pairwise einsums")


def build(quick=False, skip=()):
    abc = make_problem()
    systems = [numpy_by_hand(abc), numpy_einsum(abc)]
    notes = []
    for name, make in (("autodiff compiled", autodiff_compiled),
                       ("autodiff dynamic", autodiff_dynamic)):
        if name not in skip:
            systems.append(make(abc))
    if "autodiff jax" not in skip:
        note = jax_backend_note()
        if note:
            notes.append(note)
        else:
            systems.append(autodiff_jax(abc))
    for peer, make in (("torch", torch_system), ("jax", jax_system),
                       ("autograd", autograd_system)):
        if import_peer(peer) is None:
            notes.append(peer_note(peer))
        else:
            systems.append(make(abc))
            if peer == "autograd":
                notes.append(AUTOGRAD_NOTE)
    return Workload("W5", "grad of sum(einsum('bij,bjk,bkl->bil', A,B,C)**2) wrt A,B,C; "
                    "b=32, dims 64", systems, steps=5 if quick else 20,
                    warmup=2 if quick else 3, check_steps=0, notes=notes, unit="call")
