"""Gradients at singular points give the numbers other frameworks give, not NaN: prod at
zeros, d(b**p)/dp at b = 0; and `where` keeps the branch not taken out of the gradient
exactly as its docstring states."""
import numpy as np
import pytest
import torch

import autodiff as ad
from autodiff.ops.arithmetic import Mul

torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("values", [[-1.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.0], [2.0, -3.0, 0.5]])
def test_gradient_of_prod_matches_torch_at_zeros(values):
    x = ad.Variable(np.array(values), name="x")
    g, = ad.grad(ad.prod(x), [x])
    t = torch.tensor(values, requires_grad=True)
    torch.prod(t).backward()
    np.testing.assert_allclose(g(), t.grad.numpy(), rtol=0, atol=0)
    # and the second derivative too (the gradient has no division to differentiate)
    h = ad.hessian(ad.prod(x), x)
    expected = torch.autograd.functional.hessian(torch.prod, torch.tensor(values)).numpy()
    np.testing.assert_allclose(h(), expected, atol=1e-12)


def test_gradient_of_prod_over_axes_matches_torch():
    a = np.array([[0.0, 2.0, -1.5], [3.0, 0.0, 0.0]])
    x = ad.Variable(a, name="x")
    for axis in (0, 1):
        g, = ad.grad(ad.prod(x, axis=axis), [x])
        t = torch.tensor(a, requires_grad=True)
        torch.prod(t, dim=axis).sum().backward()
        np.testing.assert_allclose(g(), t.grad.numpy(), atol=1e-15)


def test_derivative_of_power_wrt_exponent_is_zero_at_zero_base():
    base = ad.Variable(np.array([0.0, 0.0, 2.0]), name="b")
    exponent = ad.Variable(np.array([2.0, 0.5, 3.0]), name="p")
    g, = ad.grad(base ** exponent, [exponent])
    tb = torch.tensor([0.0, 0.0, 2.0])
    tp = torch.tensor([2.0, 0.5, 3.0], requires_grad=True)
    (tb ** tp).sum().backward()
    np.testing.assert_allclose(g(), tp.grad.numpy())
    assert np.array_equal(g()[:2], [0.0, 0.0])


def test_where_guards_singular_ops_directly_under_it():
    x = ad.Variable(np.array([-1.0, 0.0, 4.0]), name="x")
    for branch in (ad.sqrt, ad.log, lambda v: 1 / v, lambda v: v ** 0.5):
        g, = ad.grad(ad.where(x > 0, branch(x), 0.0), [x])
        assert np.all(np.isfinite(g())), branch


def test_where_with_a_smooth_op_between_needs_the_guarded_input():
    # as the Where docstring says: a NaN value under a smooth op gives a NaN gradient,
    # and guarding the input as well removes it
    x = ad.Variable(np.array([-1.0, 2.0]), name="x")
    unguarded, = ad.grad(ad.where(x > 0, ad.sin(ad.log(x)), 0.0), [x])
    assert np.isnan(unguarded()[0])
    safe = ad.where(x > 0, x, 1.0)
    guarded, = ad.grad(ad.where(x > 0, ad.sin(ad.log(safe)), 0.0), [x])
    np.testing.assert_allclose(guarded(), [0.0, np.cos(np.log(2.0)) / 2.0])


def products_in(nodes):
    """The Mul nodes of the graph of `nodes`, as (strong, node) pairs."""
    return [(n.strong, n) for n in ad.topo_sort(nodes) if isinstance(n, Mul)]


def test_grad_builds_plain_products_where_the_other_factor_is_always_finite():
    # d/dx of sin(x) * cos(x): the products' factors are sin, cos and the seed, all finite
    # wherever x is: a plain product gives the same bits as a strong one, and runs faster
    x = ad.Variable(np.array([-1.0, 0.0, 2.5]), name="x")
    g, = ad.grad(ad.sum(ad.sin(x) * ad.cos(x)), [x])
    assert products_in([g]) and not any(strong for strong, _ in products_in([g]))
    np.testing.assert_allclose(g(), np.cos(2 * x.value), atol=1e-15)
    # the second derivative too, with the nested products of the first one's graph
    h, = ad.grad(ad.sum(g), [x])
    assert not any(strong for strong, _ in products_in([h]))
    np.testing.assert_allclose(h(), -2 * np.sin(2 * x.value), atol=1e-14)


def test_grad_keeps_strong_products_where_the_other_factor_may_be_infinite():
    # x * log(x) under a where: the cotangent of x is g * log(x), 0 * -inf at x = 0
    x = ad.Variable(np.array([0.0, 1.0, 2.0]), name="x")
    g, = ad.grad(ad.where(x > 0, x * ad.log(x), 0.0), [x])
    assert any(strong for strong, _ in products_in([g]))
    np.testing.assert_allclose(g(), [0.0, 1.0, np.log(2.0) + 1.0])


def test_a_product_with_a_constant_holding_inf_stays_strong():
    x = ad.Variable(np.array([0.0, 3.0]), name="x")
    c = ad.Constant(np.array([np.inf, 1.0]))
    g, = ad.grad(ad.where(x > 1, x * c, 0.0), [x])
    assert any(strong for strong, _ in products_in([g]))
    np.testing.assert_array_equal(g(), [0.0, 1.0])
