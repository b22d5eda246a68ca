"""ad.checkpoint: one node, identical derivatives at every order, recomputed not stored."""
import numpy as np
import pytest

import autodiff as ad


def _rnn(cell, x, steps):
    h = x
    for _ in range(steps):
        h = cell(h)
    return ad.sum(h ** 2)


def _setup():
    rng = np.random.default_rng(0)
    w = ad.Variable(rng.standard_normal((4, 4)) * 0.5, name="W")
    x = ad.Variable(rng.standard_normal((2, 4)), name="x")

    def cell(h):
        return ad.tanh(h @ w + x)  # closes over W and x: both get gradients

    return w, x, cell


def test_checkpointed_gradients_equal_plain_ones_to_second_order():
    w, x, cell = _setup()
    plain = _rnn(cell, x, 3)
    checked = _rnn(ad.checkpoint(cell), x, 3)
    assert np.isclose(plain(), checked())
    g_plain, g_checked = ad.grad(plain, [w, x]), ad.grad(checked, [w, x])
    for a, b in zip(g_plain, g_checked):
        assert np.allclose(a(), b(), rtol=1e-12, atol=1e-13)
    h_plain = ad.grad(ad.sum(g_plain[0] ** 2), [w, x])
    h_checked = ad.grad(ad.sum(g_checked[0] ** 2), [w, x])
    for a, b in zip(h_plain, h_checked):
        assert np.allclose(a(), b(), rtol=1e-12, atol=1e-12)
    ad.check_grad(checked, [w, x], order=3)


def test_a_call_is_one_node_whose_inner_graph_is_rebuilt_for_the_gradient():
    w, x, cell = _setup()
    y = ad.checkpoint(cell)(x)
    assert isinstance(y, ad.Checkpoint)
    assert not any(isinstance(n, ad.Tanh) for n in ad.topo_sort(y))  # inner graph hidden
    g, = ad.grad(ad.sum(y), [w])
    assert any(isinstance(n, ad.Tanh) for n in ad.topo_sort(g))       # recomputed there
    assert y.name == "cell"


def test_same_input_twice():
    x = ad.Variable(np.array([0.3, -0.7]), name="x")
    f = ad.checkpoint(lambda a, b: ad.sin(a) * b)
    y = f(x, x)
    g, = ad.grad(y, [x])
    v = x.value
    assert np.allclose(g(), np.cos(v) * v + np.sin(v))


def test_a_function_returning_several_nodes():
    """A segment of an RNN returns its last state and its loss: one Checkpoint node, sliced
    back into both, with plain derivatives at first and second order."""
    w, x, cell = _setup()

    def segment(h):
        loss = None
        for _ in range(3):
            h = cell(h)
            loss = ad.sum(h * h) if loss is None else loss + ad.sum(h * h)
        return h, loss

    def total(run):
        h, first = run(x)
        h, second = run(h)
        return first + second + ad.sum(h)

    plain, checked = total(segment), total(ad.checkpoint(segment))
    h, loss = ad.checkpoint(segment)(x)
    assert h.shape == (2, 4) and loss.shape == ()
    assert sum(isinstance(n, ad.Checkpoint) for n in ad.topo_sort(checked)) == 2
    assert np.isclose(plain(), checked(), rtol=1e-13)
    g_plain, g_checked = ad.grad(plain, [w, x]), ad.grad(checked, [w, x])
    for a, b in zip(g_plain, g_checked):
        assert np.allclose(a(), b(), rtol=1e-12, atol=1e-13)
    second = [ad.grad(ad.sum(g[0] ** 2), [x])[0] for g in (g_plain, g_checked)]
    assert np.allclose(second[0](), second[1](), rtol=1e-11, atol=1e-12)


def test_a_function_must_return_nodes():
    f = ad.checkpoint(lambda a: (a, 2.0))
    x = ad.Variable(np.ones(2), name="x")
    with pytest.raises(TypeError, match="must return a node or a tuple of nodes"):
        f(x)


def test_outputs_keep_their_dtypes_and_gradients_their_inputs_dtypes():
    x = ad.Variable(np.array([0.1, 0.2, 0.3], dtype=np.float32), name="x")
    s = ad.Variable(np.array(2.0), name="s")

    def f(a, b):
        return ad.exp(a), ad.sum(a) * b, a > 0.15   # float32, float64, bool

    def model(run):
        h, loss, mask = run(x, s)
        return ad.sum(h * h) + ad.sum(ad.where(mask, h, 0.0)), loss, mask

    plain, checked = model(f), model(ad.checkpoint(f))
    for p, c in zip(plain, checked):
        assert p.dtype == c.dtype
        np.testing.assert_allclose(p(), c(), rtol=1e-6)
    gp, gc = ad.grad(plain[0], [x])[0], ad.grad(checked[0], [x])[0]
    assert gp.dtype == gc.dtype == np.float32
    np.testing.assert_allclose(gp(), gc(), rtol=1e-6)


def test_a_checkpointed_function_may_call_itself():
    """Nested calls of one decorated function each unpack with their own layout."""
    rng = np.random.default_rng(0)
    w = ad.Variable(rng.standard_normal((3, 3)) * 0.5, name="W")
    xs = ad.Variable(rng.standard_normal((4, 3)), name="xs")

    def scan(h, seq, run):
        if seq.shape[0] == 1:
            h = ad.tanh(h @ w + seq[0])
            return h, ad.reshape(h, (1, 3))
        half = seq.shape[0] // 2
        h, first = run(h, seq[:half])
        h, second = run(h, seq[half:])
        return h, ad.concatenate([first, second])

    def plain(h, seq):
        return scan(h, seq, plain)

    @ad.checkpoint
    def checked(h, seq):
        return scan(h, seq, checked)

    h0 = ad.Variable(np.zeros(3), name="h0")
    (_, states_p), (_, states_c) = plain(h0, xs), checked(h0, xs)
    assert states_c.shape == (4, 3)
    np.testing.assert_allclose(states_p(), states_c(), rtol=1e-13)
    gp, gc = ad.grad(ad.sum(states_p ** 2), [w])[0], ad.grad(ad.sum(states_c ** 2), [w])[0]
    np.testing.assert_allclose(gp(), gc(), rtol=1e-12)
