"""Numerics at extreme inputs: stable forms stay finite with finite gradients, exact ops
keep exact maths, and `where` never leaks NaN from the branch it does not take."""
import numpy as np
import pytest

import autodiff as ad

EXTREME = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])


def rows(x):
    return ad.reshape(x, (1, -1))


STABLE = {
    "tanh": (ad.tanh, np.tanh),
    "sigmoid": (ad.sigmoid, lambda v: np.exp(-np.logaddexp(0, -v))),
    "softplus": (ad.softplus, lambda v: np.logaddexp(0, v)),
    "logsumexp": (ad.logsumexp, lambda v: np.max(v) + np.log(np.sum(np.exp(v - np.max(v))))),
    "softmax": (ad.softmax, lambda v: np.exp(v - np.max(v)) / np.sum(np.exp(v - np.max(v)))),
    "log_softmax": (ad.log_softmax, lambda v: v - np.max(v) - np.log(np.sum(np.exp(v - np.max(v))))),
    "softmax_ce": (lambda x: ad.SoftmaxCEWithLogits(np.eye(7)[[2]], rows(x)),
                   lambda v: np.max(v) + np.log(np.sum(np.exp(v - np.max(v)))) - v[2]),
    "sigmoid_ce": (lambda x: ad.SigmoidCEWithLogits(np.linspace(0, 1, 7), x),
                   lambda v: np.logaddexp(0, v) - v * np.linspace(0, 1, 7)),
}


@pytest.mark.parametrize("name", sorted(STABLE))
def test_finite_values_and_gradients_at_extremes(name):
    fn, reference = STABLE[name]
    x = ad.Variable(EXTREME, name="x")
    y = fn(x)
    g, = ad.grad(y, [x])
    h, = ad.grad(ad.sum(g * g), [x])
    value, grad, second = ad.evaluate([y, g, h])
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)) and np.all(np.isfinite(second))
    assert np.allclose(value, reference(EXTREME), rtol=1e-12, atol=1e-12)


def test_where_masks_nan_of_the_branch_not_taken():
    x = ad.Variable(np.array([-1.0, 0.0, 4.0]), name="x")
    y = ad.where(x > 0, ad.sqrt(x), 0.0)
    g, = ad.grad(y, [x])
    h, = ad.grad(g, [x])
    assert np.array_equal(g(), [0.0, 0.0, 0.25])
    assert np.array_equal(h(), [0.0, 0.0, -1 / 32])
    z = ad.where(x > 0, ad.log(x) * x, 0.0)
    assert np.all(np.isfinite(ad.grad(z, [x])[0]()))
    safe_div = ad.where(ad.abs(x) > 0, 1 / x, 0.0)
    assert np.array_equal(ad.grad(safe_div, [x])[0](), [-1.0, 0.0, -1 / 16])


def test_exact_ops_keep_exact_maths():
    x = ad.Variable(np.array([0.0, 2.0]), name="x")
    assert np.array_equal(ad.log(x)(), [-np.inf, np.log(2.0)])
    assert np.array_equal(ad.Recipr(x)(), [np.inf, 0.5])
    assert np.array_equal(ad.relu(x - 1)(), [0.0, 1.0])


def test_relu_derivative_is_a_step_and_second_derivative_zero():
    x = ad.Variable(np.array([-2.0, -0.5, 0.5, 2.0]), name="x")
    g, = ad.grad(ad.relu(x), [x])
    h, = ad.grad(g, [x])
    assert np.array_equal(g(), [0, 0, 1, 1])
    assert np.array_equal(h(), [0, 0, 0, 0])


def test_max_shares_gradient_between_ties():
    x = ad.Variable(np.array([1.0, 3.0, 3.0, 2.0]), name="x")
    g, = ad.grad(ad.max(x), [x])
    assert np.array_equal(g(), [0, 0.5, 0.5, 0])


def test_float32_stays_float32():
    x = ad.Variable(np.linspace(-3, 3, 5).astype(np.float32), name="x")
    y = ad.sum(ad.tanh(x) * 2 + ad.log_softmax(x) ** 2)
    g, = ad.grad(y, [x])
    assert y.dtype == np.float32 and y().dtype == np.float32
    assert g.dtype == np.float32 and g().dtype == np.float32
