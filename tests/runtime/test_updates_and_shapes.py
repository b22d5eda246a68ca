"""Compiled functions update Variables after each call, and take inputs of new shapes by
rebuilding the graph for them (shape rules applied again, derivatives derived again)."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn


def test_updates_are_computed_from_the_values_before_the_call():
    a = ad.Variable(np.array([1.0, 2.0]), name="a")
    b = ad.Variable(np.array([10.0, 20.0]), name="b")
    out = a * b
    f = ad.function(out, updates={a: b, b: a + b})  # a swap-like step, all from old values
    assert np.array_equal(f(), [10.0, 40.0])        # outputs use the old values too
    assert np.array_equal(a.value, [10.0, 20.0]) and np.array_equal(b.value, [11.0, 22.0])
    assert np.array_equal(f(), [110.0, 440.0])
    assert np.array_equal(a.value, [11.0, 22.0]) and np.array_equal(b.value, [21.0, 42.0])


def test_a_training_step_with_updates_matches_numpy():
    rng = np.random.default_rng(0)
    w = ad.Variable(rng.standard_normal((3, 1)), name="w")
    xb, yb = ad.Variable(np.zeros((8, 3)), name="xb"), ad.Variable(np.zeros((8, 1)), name="yb")
    loss = ad.mean((xb @ w - yb) ** 2)
    gw, = ad.grad(loss, [w])
    step = ad.function(loss, inputs=[xb, yb], updates={w: w - 0.1 * gw})
    w_np = w.value.copy()
    for _ in range(5):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
        value = step(x, y)
        residual = x @ w_np - y
        assert np.isclose(value, np.mean(residual ** 2))
        w_np = w_np - 0.1 * 2 * x.T @ residual / 8
        np.testing.assert_allclose(w.value, w_np, rtol=1e-12)


@pytest.mark.parametrize("bad, error", [
    (lambda w: {w: ad.Variable(np.ones(4))}, ValueError),
    (lambda w: {"w": w}, TypeError),
    (lambda w: {w: np.ones(3)}, TypeError),
])
def test_bad_updates_raise_when_compiled(bad, error):
    w = ad.Variable(np.ones(3), name="w")
    with pytest.raises(error, match="updates"):
        ad.function(w * 2, updates=bad(w))


def test_training_loop_whose_last_batch_is_smaller():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.Tanh(), nn.Linear(8, 3, rng=rng))
    xb = ad.Variable(np.zeros((16, 4)), name="xb")
    yb = ad.Variable(np.zeros(16), name="yb")
    loss = nn.softmax_cross_entropy(model(xb), yb)
    params = model.parameters()
    step = ad.function([loss, *ad.grad(loss, params)], inputs=[xb, yb])
    x_all = rng.standard_normal((40, 4))
    y_all = rng.integers(0, 3, 40).astype(float)
    for start in range(0, 40, 16):  # batches of 16, 16, then 8
        x, y = x_all[start:start + 16], y_all[start:start + 16]
        value, *grads = step(x, y)
        # the same graph built for this batch size directly
        xs, ys = ad.Variable(x, name="x"), ad.Variable(y, name="y")
        direct = nn.softmax_cross_entropy(model(xs), ys)
        np.testing.assert_allclose(value, direct(), rtol=1e-12)
        for g, d in zip(grads, ad.grad(direct, params)):
            np.testing.assert_allclose(g, d(), rtol=1e-12, atol=1e-14)
    assert (8, 4) in [s[0] for s in step._shapes]  # planned once for the small batch


def test_a_new_shape_that_does_not_fit_says_so():
    x = ad.Variable(np.ones((4, 3)), name="x")
    f = ad.function(ad.reshape(x, (12,)) * 2, inputs=[x])
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape"):
        f(np.ones((5, 3)))
    g = ad.function(ad.reshape(x, (-1,)) * 2, inputs=[x])
    assert g(np.ones((5, 3))).shape == (15,)
    with pytest.raises(ValueError, match="dimension"):
        g(np.ones(3))


def test_new_shapes_through_checkpoints_jvp_and_simplify():
    x = ad.Variable(np.ones((2, 3)), name="x")
    w = ad.Variable(np.linspace(-1, 1, 3), name="w")
    cell = ad.checkpoint(lambda v: (ad.tanh(v * w), ad.sum(v * v)))
    h, s = cell(x)
    total = ad.sum(h) + s
    g, = ad.grad(total, [w])
    t, = ad.jvp(total, [x], [x * x])  # a tangent that is a node follows x's shape
    f = ad.function([total, ad.simplify(g), t], inputs=[x])
    value = np.arange(12.0).reshape(4, 3) / 10
    got = f(value)
    xs = ad.Variable(value, name="x4")
    hs, ss = cell(xs)
    direct = ad.sum(hs) + ss
    np.testing.assert_allclose(got[0], direct(), rtol=1e-12)
    np.testing.assert_allclose(got[1], ad.grad(direct, [w])[0](), rtol=1e-12)
    np.testing.assert_allclose(got[2], ad.jvp(direct, [xs], [xs * xs])[0](), rtol=1e-12)


def test_updates_work_for_new_shapes_too():
    w = ad.Variable(np.zeros(3), name="w")
    xb = ad.Variable(np.zeros((4, 3)), name="xb")
    loss = ad.sum(xb @ w)
    gw, = ad.grad(loss, [w])
    step = ad.function(loss, inputs=[xb], updates={w: w - gw})
    step(np.ones((2, 3)))
    np.testing.assert_allclose(w.value, [-2.0, -2.0, -2.0])
