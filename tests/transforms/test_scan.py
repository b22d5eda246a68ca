"""`scan`: a loop as one node, equal to the unrolled graph in values and in derivatives of
every order, on both backends, for any sequence length."""
import numpy as np
import pytest

import autodiff as ad


@pytest.fixture
def rnn():
    rng = np.random.default_rng(0)
    w = ad.Variable(rng.standard_normal((3, 3)) * 0.5, name="w")
    u = ad.Variable(rng.standard_normal((2, 3)), name="u")
    seq = ad.Variable(rng.standard_normal((6, 4, 2)), name="seq")
    h0 = ad.Variable(rng.standard_normal((4, 3)) * 0.1, name="h0")
    return w, u, seq, h0


def lstm_like_step(w, u):
    """A cell with a tuple carry (h, c) and a tuple output."""
    def step(carry, x):
        h, c = carry
        z = h @ w + x @ u
        c = ad.sigmoid(z) * c + ad.tanh(z)
        h = ad.tanh(c) * 0.5
        return (h, c), (h, ad.sum(c * c, axis=1))
    return step


def unrolled(step, init, seq, length, reverse=False):
    carry, ys = init, [None] * length
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        carry, ys[t] = step(carry, seq[t])
    return carry, ys


@pytest.mark.parametrize("reverse", [False, True])
def test_values_and_derivatives_equal_the_unrolled_graph(rnn, reverse):
    w, u, seq, h0 = rnn
    step = lstm_like_step(w, u)
    (h, c), (hs, norms) = ad.scan(step, (h0, h0 * 2), seq, reverse=reverse)
    (hr, cr), ys = unrolled(step, (h0, h0 * 2), seq, 6, reverse)
    loss = ad.sum(hs ** 2) + ad.sum(norms) + ad.sum(h * c)
    ref = ad.sum(ad.stack([y[0] for y in ys]) ** 2) + ad.sum(ad.stack([y[1] for y in ys])) \
        + ad.sum(hr * cr)
    np.testing.assert_allclose(loss(), ref(), rtol=1e-13)
    wrt = [w, u, seq, h0]
    firsts, ref_firsts = ad.grad(loss, wrt), ad.grad(ref, wrt)
    for a, b in zip(firsts, ref_firsts):
        np.testing.assert_allclose(a(), b(), rtol=1e-11, atol=1e-13)
    seconds = ad.grad(ad.sum(firsts[0] ** 2) + ad.sum(firsts[2] * 0.3), wrt)
    ref_seconds = ad.grad(ad.sum(ref_firsts[0] ** 2) + ad.sum(ref_firsts[2] * 0.3), wrt)
    for a, b in zip(seconds, ref_seconds):
        np.testing.assert_allclose(a(), b(), rtol=1e-10, atol=1e-12)


def test_third_order_and_check_grad(rnn):
    w, u, seq, h0 = rnn
    h_last, _ = ad.scan(lambda h, x: (ad.tanh(h @ w + x @ u), None), h0, seq)
    ad.check_grad(ad.sum(h_last ** 2), [w, u], order=3)


def test_the_jax_backend_lowers_the_loop(rnn):
    w, u, seq, h0 = rnn
    (h, c), (hs, norms) = ad.scan(lstm_like_step(w, u), (h0, h0), seq)
    loss = ad.sum(hs * hs) + ad.sum(norms) + ad.sum(c)
    outputs = [loss, *ad.grad(loss, [w, u, seq])]
    for got, want in zip(ad.function(outputs, backend="jax")(), ad.function(outputs)()):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_a_compiled_scan_takes_longer_sequences(rnn):
    w, u, seq, h0 = rnn
    h_last, hs = ad.scan(lambda h, x: (ad.tanh(h @ w + x @ u),) * 2, h0, seq)
    loss = ad.sum(hs) + ad.sum(h_last)
    g, = ad.grad(loss, [w])
    f = ad.function([loss, g], inputs=[seq])
    longer = np.random.default_rng(1).standard_normal((9, 4, 2))
    value, grad = f(longer)
    seq9 = ad.Variable(longer, name="seq9")
    h9, hs9 = unrolled(lambda h, x: (ad.tanh(h @ w + x @ u),) * 2, h0, seq9, 9)
    ref = ad.sum(ad.stack(hs9)) + ad.sum(h9)
    np.testing.assert_allclose(value, ref(), rtol=1e-12)
    np.testing.assert_allclose(grad, ad.grad(ref, [w])[0](), rtol=1e-11)


def test_a_loop_without_sequences_and_a_loop_in_a_loop():
    x = ad.Variable(np.array([0.5, -0.3]), name="x")
    powers, _ = ad.scan(lambda c, _: (c * x, None), ad.ones_like(x), length=4)
    np.testing.assert_allclose(powers(), x.value ** 4)
    np.testing.assert_allclose(ad.grad(ad.sum(powers), [x])[0](), 4 * x.value ** 3)

    def outer(c, row):
        inner, _ = ad.scan(lambda a, v: (a + ad.sin(v * c), None), c, row)
        return inner, inner

    m = ad.Variable(np.arange(6.0).reshape(3, 2) / 5, name="m")
    final, _ = ad.scan(outer, ad.Variable(0.1, name="c0"), m)
    c = 0.1
    for row in m.value:
        a = c
        for v in row:
            a = a + np.sin(v * c)  # the inner loop reads the outer carry, fixed
        c = a
    np.testing.assert_allclose(final(), c, rtol=1e-13)
    ad.check_grad(final, [m], order=2)


def test_bad_loops_are_refused_when_built():
    x = ad.Variable(np.ones((3, 2)), name="x")
    with pytest.raises(ValueError, match="returns a carry of shapes"):
        ad.scan(lambda c, v: (c * v, None), ad.Variable(1.0), x)
    with pytest.raises(ValueError, match="different lengths"):
        ad.scan(lambda c, v: (c, None), ad.Variable(np.ones(2)), (x, ad.Variable(np.ones(4))))
    with pytest.raises(TypeError, match=r"must return \(carry, y\)"):
        ad.scan(lambda c, v: c, ad.Variable(np.ones(2)), x)
