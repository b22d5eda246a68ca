"""`grad` as a graph transformation: semantics, zeros, broadcasting, higher orders."""
import warnings

import numpy as np
import pytest

import autodiff as ad
from closed_forms import tanh_polynomials
from autodiff.ops.shape_ops import ReduceSumToShape


def test_grad_of_non_scalar_is_gradient_of_sum():
    rng = np.random.default_rng(0)
    w = ad.Variable(rng.standard_normal((3, 5)), name="w")
    a = ad.Variable(rng.standard_normal((2, 3)), name="a")
    gw, ga = ad.grad(a @ w, [w, a])
    assert np.allclose(gw(), a.value.T @ np.ones((2, 5)))
    assert np.allclose(ga(), np.ones((2, 5)) @ w.value.T)


def test_previous_grad_is_the_output_cotangent():
    rng = np.random.default_rng(1)
    x = ad.Variable(rng.standard_normal(4), name="x")
    v = rng.standard_normal(4)
    g, = ad.grad(ad.sin(x), [x], previous_grad=v)
    assert np.allclose(g(), np.cos(x.value) * v)
    with pytest.raises(ValueError, match="previous_grad"):
        ad.grad(ad.sin(x), [x], previous_grad=np.ones(3))


def test_unrelated_wrt_gets_zero_of_its_shape():
    x = ad.Variable(np.ones(3), name="x")
    u = ad.Variable(np.ones((2, 2)), name="u")
    gx, gu = ad.grad(ad.sum(x * 2), [x, u])
    assert np.array_equal(gu(), np.zeros((2, 2)))
    assert np.array_equal(gx(), [2, 2, 2])


def test_wrt_must_be_a_list_of_nodes():
    x = ad.Variable(1.0, name="x")
    with pytest.raises(TypeError, match="list of nodes"):
        ad.grad(x * 2, x)
    with pytest.raises(TypeError, match=r"wrt\[1\]"):
        ad.grad(x * 2, [x, 3.0])


def test_rules_are_only_called_on_paths_to_wrt():
    class NoRule(ad.Node):
        def forward(self, x):
            return x

    x = ad.Variable(2.0, name="x")
    c = ad.Variable(3.0, name="c")
    y = x * NoRule(c)  # NoRule is off the path from y to x
    g, = ad.grad(y, [x])
    assert g() == 3.0
    with pytest.raises(NotImplementedError, match="NoRule"):
        ad.grad(y, [c])


def test_gradient_wrt_an_intermediate_node():
    x = ad.Variable(2.0, name="x")
    h = x * x
    y = ad.sin(h)
    gh, gx = ad.grad(y, [h, x])
    assert np.isclose(gh(), np.cos(4.0))
    assert np.isclose(gx(), np.cos(4.0) * 4.0)


def test_broadcasting_is_undone_in_one_place():
    rng = np.random.default_rng(2)
    a = ad.Variable(rng.standard_normal((4, 1, 3)), name="a")
    b = ad.Variable(rng.standard_normal((5, 1)), name="b")
    c = ad.Variable(rng.standard_normal(()), name="c")
    y = a * b + c
    ga, gb, gc = ad.grad(y, [a, b, c])
    assert ga().shape == (4, 1, 3) and gb().shape == (5, 1) and gc().shape == ()
    assert np.allclose(ga(), np.broadcast_to(b.value, (4, 5, 3)).sum(axis=1, keepdims=True))
    assert np.allclose(gb(), np.broadcast_to(a.value, (4, 5, 3)).sum(axis=(0, 2))[:, None])
    assert np.isclose(gc(), 4 * 5 * 3)
    # the rule for Mul did not sum anything itself: exactly one reduction per operand
    reductions = [n for n in ad.topo_sort([ga, gb]) if isinstance(n, ReduceSumToShape)]
    assert len(reductions) == 2


def test_zeros_are_symbolic():
    x = ad.Variable(np.ones(3), name="x")
    c = ad.Constant(np.ones(3))
    y = ad.sum(ad.exp(c) * x)
    g, = ad.grad(y, [x])
    nodes = ad.topo_sort(g)
    assert not any(isinstance(n, ad.Exp) and n.derivative_of is not None for n in nodes)


def test_same_variable_twice_accumulates():
    x = ad.Variable(3.0, name="x")
    g, = ad.grad(x * x * x, [x])
    assert np.isclose(g(), 27.0)
    g2, = ad.grad(g, [x])
    g3, = ad.grad(g2, [x])
    assert np.isclose(g2(), 18.0) and np.isclose(g3(), 6.0)


def test_mixed_partials_agree():
    x = ad.Variable(0.7, name="x")
    y = ad.Variable(-1.3, name="y")
    f = ad.sin(x * y) * ad.exp(x) + y ** 3
    fx, fy = ad.grad(f, [x, y])
    fxy, = ad.grad(fx, [y])
    fyx, = ad.grad(fy, [x])
    assert np.isclose(fxy(), fyx())
    xv, yv = 0.7, -1.3
    closed = (np.cos(xv * yv) - xv * yv * np.sin(xv * yv)) * np.exp(xv) + \
        xv * np.cos(xv * yv) * np.exp(xv)
    assert np.isclose(fxy(), closed)


def test_nth_derivative_of_tanh_matches_closed_form():
    x = ad.Variable(np.linspace(-3, 3, 101), name="x")
    t = np.tanh(x.value)
    d = ad.tanh(x)
    for p in tanh_polynomials(5):  # plain nested grad, no simplification
        d, = ad.grad(d, [x])
        assert np.allclose(ad.evaluate(d, simplify=False), p(t), rtol=1e-9, atol=1e-12)


def test_derivative_nodes_are_marked_with_their_origin():
    x = ad.Variable(1.0, name="x")
    y = ad.tanh(x)
    g, = ad.grad(y, [x])
    assert y.derivative_of is None
    origins = {n.derivative_of for n in ad.topo_sort(g) if n.derivative_of is not None}
    assert y in origins


def test_check_grad_catches_a_wrong_rule():
    class WrongSin(ad.Node):
        def forward(self, x):
            return np.sin(x)

        def vjp(self, g):
            return [g * ad.cos(self.children[0]) * 1.01]

    x = ad.Variable(np.array([0.3, 0.9]), name="x")
    with pytest.raises(ad.GradientCheckError, match="order 1"):
        ad.check_grad(WrongSin(x), [x], order=1)
    ad.check_grad(ad.sin(x), [x], order=3)


def test_check_grad_catches_a_wrong_second_derivative():
    class Frozen(ad.Node):
        """Identity whose derivative is (wrongly) declared zero."""

        def forward(self, x):
            return x

        def vjp(self, g):
            return [None]

    class Cube(ad.Node):
        """x**3 with a right first derivative whose own derivative is lost."""

        def forward(self, x):
            return x ** 3

        def vjp(self, g):
            return [g * 3 * Frozen(self.children[0]) ** 2]

    x = ad.Variable(np.array([0.5, 1.5]), name="x")
    ad.check_grad(Cube(x), [x], order=1)
    with pytest.raises(ad.GradientCheckError, match="order 2"):
        ad.check_grad(Cube(x), [x], order=2)


def test_nested_grads_that_grow_fast_warn_once_large():
    x = ad.Variable(0.3, name="x")
    y = x
    for _ in range(6):
        y = ad.sin(y) * ad.cos(y)
    g = y
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # orders 1-6 stay under the warning size
        for _ in range(6):
            g = ad.grad(g, [x])[0]
    with pytest.warns(UserWarning, match="Nested derivatives grow fast"):
        ad.grad(g, [x])


def test_first_gradient_of_a_long_unrolled_model_does_not_warn():
    rng = np.random.default_rng(0)
    W = ad.Variable(rng.standard_normal((4, 4)) * 0.3, name="W")
    h, loss = ad.Variable(np.ones((1, 4)), name="h0"), 0.0
    for _ in range(3000):  # ~30,000 derivative nodes: large because the model is
        h = ad.tanh(h @ W)
        loss = loss + ad.sum(h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (dW,) = ad.grad(loss, [W])
    assert ad.graph_size(dW) > 20_000


def test_stop_gradient_passes_values_and_blocks_gradients():
    x = ad.Variable(np.array([0.5, -1.5, 2.0]), name="x")
    frozen = ad.stop_gradient(x)
    assert np.array_equal(frozen(), x.value)
    g, = ad.grad(ad.sum(frozen * x), [x])        # d/dx (c * x) with c = x held fixed
    assert np.array_equal(g(), x.value)
    g, = ad.grad(ad.sum(ad.stop_gradient(x * x)), [x])  # nothing flows back: a zero
    assert np.array_equal(g(), np.zeros(3))
    h, = ad.grad(ad.sum(ad.grad(ad.sum(frozen * x ** 2), [x])[0]), [x])
    assert np.allclose(h(), 2 * x.value)         # second order: d/dx sum(2 c x) = 2c
