"""Declared dtypes agree with computed ones and follow numpy, for every op and every
dtype numpy accepts; float32 graphs stay float32 through every transformation."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad
from op_specs import SPECS

DTYPES = [np.bool_, np.int8, np.int64, np.float32, np.float64]
SETTINGS = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _cast(values, dtype):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [np.asarray(v).astype(dtype) for v in values]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_declared_dtype_is_computed_and_is_numpys(spec, data):
    """Every operand as a constant of each dtype: the op either refuses when it is built
    (TypeError or ValueError), or its value has the declared dtype, which is numpy's."""
    shapes = tuple(tuple(s) for s in data.draw(spec.shapes, label="shapes"))
    for dtype in DTYPES:
        check_dtypes(spec, shapes, dtype)


def check_dtypes(spec, shapes, dtype):
    rng = np.random.default_rng(0)
    values = _cast([d.sample(rng, s) for d, s in zip(spec.domains, shapes)], dtype)
    kwargs = spec.kwargs_for(shapes)
    try:
        node = spec.fn(*values, **kwargs)
    except (TypeError, ValueError):
        return  # a clear refusal when the graph is built
    if not isinstance(node, ad.Node):
        return  # ops of constants that return the constant itself
    with np.errstate(all="ignore"):
        value = np.asarray(node())
        try:
            expected = np.asarray(spec.ref(*values, **kwargs))
        except Exception:  # numpy refuses these values (not only dtypes): nothing to compare
            expected = None
    where = f"{spec.name} on {np.dtype(dtype).name} operands"
    assert value.dtype == node.dtype, f"{where}: declared {node.dtype}, computed {value.dtype}"
    if expected is not None and spec.name not in NOT_NUMPY_FUNCTIONS:
        assert node.dtype == expected.dtype, \
            f"{where}: declared {node.dtype}, numpy {expected.dtype}"


#: Specs whose reference is not the numpy function of the same name (a formula, or
#: another function computing the same values), so its dtype is not numpy's rule for
#: the op: ops numpy lacks (softplus, losses, sum-to-shape and scatter-add, which keep
#: their operand's dtype), and power(x, 0.5) checked against sqrt.
NOT_NUMPY_FUNCTIONS = {"SoftmaxCEWithLogits", "SigmoidCEWithLogits", "Step", "softplus",
                       "Softplus", "leaky_relu", "leaky_relu[negative_slope=0.2]",
                       "where[condition node, sqrt in the branch not taken]",
                       "ReduceSumToShape", "ScatterAdd[basic index]",
                       "ScatterAdd[repeated integer index]", "power[exponent 0.5]"}


def test_integers_and_booleans_follow_numpy():
    x = ad.Variable(np.array([-1.0, 2.0]), name="x")
    assert ad.mean(x > 0)() == 0.5 and ad.mean(x > 0).dtype == np.float64
    assert ad.mean(np.array([1, 2]))() == 1.5
    a = np.array([100, 2], dtype=np.int8)
    product = ad.multiply(a, a)
    with np.errstate(over="ignore"):
        expected = a * a
    assert product.dtype == np.int8 and np.array_equal(product(), expected)  # wraps, as numpy
    total = ad.sum(x > 0)
    assert total.dtype == np.int64 and total() == 1
    assert ad.sum(np.array([100, 100], np.int8))() == 200  # numpy sums int8 in int64


@pytest.mark.parametrize("build, message", [
    (lambda: ad.power(np.array([2, 3]), -1), "negative integer power"),
    (lambda: -ad.Constant(np.array([True])), "Negate"),
    (lambda: ad.Constant(np.array([True])) - np.array([False]), "Subtract"),
    (lambda: ad.einsum("i->", np.array([True, False])), "boolean"),
])
def test_what_numpy_refuses_is_refused_when_built(build, message):
    with pytest.raises((TypeError, ValueError), match=message):
        build()


FLOAT32_OPS = [ad.sin, ad.tanh, ad.exp, ad.sigmoid, lambda v: v * 2.5, lambda v: v ** 1.5,
               lambda v: ad.clip(v, 0, 1), lambda v: ad.maximum(v, 0.5), lambda v: v / 3,
               lambda v: ad.sqrt(v * v + 1), lambda v: ad.softplus(v), lambda v: v - 1]


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(0, len(FLOAT32_OPS) - 1), min_size=1, max_size=5))
def test_float32_stays_float32_through_every_transformation(ops):
    x = ad.Variable(np.linspace(0.2, 0.9, 3).astype(np.float32), name="x")
    y = x
    for k in ops:
        y = FLOAT32_OPS[k](y)
    g, = ad.grad(ad.sum(y), [x])
    results = {
        "value": y, "grad": g, "second": ad.grad(ad.sum(g), [x])[0],
        "jvp": ad.jvp(y, [x], [np.ones(3, np.float32)])[0],
        "hvp": ad.hvp(ad.sum(y), x, np.ones(3, np.float32)),
        "hessian": ad.hessian(ad.sum(y), x), "jacobian": ad.jacobian(y, x),
        "derivative": ad.derivative(y, x, 2), "simplified": ad.simplify(g),
    }
    for what, node in results.items():
        assert node.dtype == np.float32, what
        assert np.asarray(node()).dtype == np.float32, what
    assert ad.function(g)().dtype == np.float32
    # numpy arrays of float32 keep their dtype next to Python numbers, as in numpy
    a32 = np.ones(3, np.float32)
    for node in (ad.power(a32, 1.5), ad.clip(a32, 0, 1), ad.maximum(a32, 0.5)):
        assert node.dtype == np.float32 and node().dtype == np.float32
