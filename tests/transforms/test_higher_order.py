"""derivative, jvp, jacobian, hessian and hvp: values and graph sizes."""
import numpy as np
import pytest

import autodiff as ad
from closed_forms import tanh_polynomials


@pytest.fixture
def x():
    return ad.Variable(np.linspace(-7, 7, 1000), name="x")


def close(value, reference):
    scale = np.max(np.abs(reference))
    return np.allclose(value, reference, rtol=1e-8, atol=1e-8 * scale)


def test_derivative_of_tanh_matches_closed_form(x):
    t = np.tanh(x.value)
    for n, p in enumerate(tanh_polynomials(10), start=1):
        d = ad.derivative(ad.tanh(x), x, n)
        assert close(d(), p(t)), n


def test_nested_grad_matches_closed_form_and_simplifies_small(x):
    t = np.tanh(x.value)
    d, sizes = ad.tanh(x), []
    for p in tanh_polynomials(10):
        d, = ad.grad(d, [x])
        d = ad.simplify(d)
        sizes.append(ad.graph_size(d))
        assert close(d(), p(t))
    assert sizes[9] <= 500 and sizes[9] <= 3 * sizes[4]


def test_derivative_graph_sizes_grow_slowly(x):
    sizes = [ad.graph_size(ad.derivative(ad.tanh(x), x, n)) for n in (5, 10)]
    assert sizes[1] <= 50
    assert sizes[1] <= 2 * sizes[0]


def test_sin_sin_sin_order_8_is_small_and_right():
    x = ad.Variable(np.linspace(-2, 2, 9), name="x")
    f = ad.sin(ad.sin(ad.sin(x)))
    d7 = ad.derivative(f, x, 7)
    d8 = ad.derivative(f, x, 8)
    assert ad.graph_size(d8) <= 800
    h = 1e-4
    values = [ad.evaluate(d7, feed={x: x.value + k * h}) for k in (-2, -1, 1, 2)]
    numeric = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h)
    assert np.allclose(d8(), numeric, rtol=1e-5, atol=1e-4)


def test_derivative_refuses_non_elementwise(x):
    with pytest.raises(ValueError, match="not an elementwise function"):
        ad.derivative(ad.sum(ad.tanh(x)), x, 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        ad.derivative(ad.tanh(x), x, -1)


def test_mixed_partials_agree_through_simplify():
    a = ad.Variable(0.3, name="a")
    b = ad.Variable(-0.8, name="b")
    f = ad.tanh(a * b) * ad.sin(a) + b ** 3
    fa, fb = ad.grad(f, [a, b])
    fab, = ad.grad(fa, [b])
    fba, = ad.grad(fb, [a])
    assert np.isclose(ad.simplify(fab)(), ad.simplify(fba)())


def _numeric_jacobian(f, x0, h=1e-6):
    cols = []
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = h
        cols.append((f(x0 + e) - f(x0 - e)) / (2 * h))
    return np.stack(cols, axis=-1).reshape(f(x0).shape + x0.shape)


@pytest.fixture
def mlp():
    rng = np.random.default_rng(0)
    w = ad.Constant(rng.standard_normal((3, 4)))
    x = ad.Variable(rng.standard_normal((2, 3)), name="x")
    y = ad.tanh(x @ w) ** 2 + ad.sum(x, axis=1, keepdims=True)

    def numpy_y(v):
        return np.tanh(v @ w.value) ** 2 + v.sum(axis=1, keepdims=True)

    return x, y, numpy_y


def test_jacobian_matches_finite_differences(mlp):
    x, y, numpy_y = mlp
    jac = ad.jacobian(y, x)
    assert jac.shape == y.shape + x.shape
    assert np.allclose(jac(), _numeric_jacobian(numpy_y, x.value), atol=1e-7)


def test_jacobian_is_vectorised_not_a_loop(mlp):
    x, y, _ = mlp
    jac = ad.jacobian(y, x)
    # one batched derivative graph: its size does not scale with the 8 output elements
    assert ad.graph_size(jac) < 4 * ad.graph_size(ad.grad(y, [x])[0])


def test_jvp_matches_finite_differences(mlp):
    x, y, numpy_y = mlp
    v = np.random.default_rng(1).standard_normal(x.shape)
    jv, = ad.jvp(y, [x], [v])
    h = 1e-6
    numeric = (numpy_y(x.value + h * v) - numpy_y(x.value - h * v)) / (2 * h)
    assert jv.shape == y.shape
    assert np.allclose(jv(), numeric, atol=1e-7)


def test_hessian_and_hvp_match_closed_form():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 6)) / 3
    x = ad.Variable(rng.standard_normal(6), name="x")
    f = ad.sum(ad.tanh(ad.Constant(a) @ x)) + 0.5 * ad.sum(x ** 2)
    t = np.tanh(a @ x.value)
    closed = a.T @ np.diag(-2 * t * (1 - t ** 2)) @ a + np.eye(6)
    hess = ad.hessian(f, x)
    assert hess.shape == (6, 6)
    assert np.allclose(hess(), closed, atol=1e-12)
    v = rng.standard_normal(6)
    assert np.allclose(ad.hvp(f, x, v)(), closed @ v, atol=1e-12)


def test_jvp_and_hessian_agree_with_jax(mlp):
    import jax
    import jax.numpy as jnp
    x, y, _ = mlp
    w = next(n for n in ad.topo_sort(y) if isinstance(n, ad.Constant) and n.shape == (3, 4)).value

    def jax_y(v):
        return jnp.tanh(v @ w) ** 2 + v.sum(axis=1, keepdims=True)

    v = np.random.default_rng(3).standard_normal(x.shape)
    with jax.enable_x64(True):  # float64 for this test only: jax's global setting is shared
        _, expected = jax.jvp(jax_y, (x.value,), (v,))
        expected_h = jax.hessian(lambda v: jnp.sum(jax_y(v) ** 2))(x.value)
    assert np.allclose(ad.jvp(y, [x], [v])[0](), expected, atol=1e-12)
    hess = ad.hessian(ad.sum(y ** 2), x)
    assert np.allclose(hess(), expected_h, atol=1e-10)
