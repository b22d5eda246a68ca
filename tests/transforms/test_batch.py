"""Batching: the graph applied to a stack of values at once gives, row by row, what the
graph gives for each value, over the whole op table (each op's own rule, elementwise
broadcasting, or the loop for ops without a rule)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad
from autodiff.transforms import batch
from op_specs import SPECS

SETTINGS = settings(max_examples=5, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BATCHABLE = [s for s in SPECS if any(d.differentiable for d in s.domains)]


@pytest.mark.parametrize("spec", BATCHABLE, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_batched_op_equals_the_op_on_each_row(spec, data):
    shapes = tuple(tuple(s) for s in data.draw(spec.shapes, label="shapes"))
    rng = np.random.default_rng(2)
    values = [np.array(d.sample(rng, s)) for d, s in zip(spec.domains, shapes)]
    k = next(i for i, d in enumerate(spec.domains) if d.differentiable)
    placeholder = ad.Variable(values[k], name="p")
    operands = [placeholder if i == k else (ad.Variable(v) if d.differentiable else v)
                for i, (d, v) in enumerate(zip(spec.domains, values))]
    node = spec.fn(*operands, **spec.kwargs_for(shapes))
    rows = np.stack([spec.domains[k].sample(rng, shapes[k]) for _ in range(3)])
    batched, = batch([node], placeholder, ad.Constant(rows))
    assert batched.shape == (3,) + node.shape
    got = batched()
    for b in range(3):
        placeholder.value = rows[b]
        np.testing.assert_allclose(got[b], node(), rtol=1e-12, atol=1e-12)


def test_a_declined_rule_falls_back_to_the_loop():
    # integer-array indices apart from each other: numpy moves their axes to the front, so
    # the slice's rule declines and the loop batches it
    x = ad.Variable(np.arange(24.0).reshape(2, 3, 4), name="x")
    node = x[[0, 1], :, [1, 3]]
    rows = np.random.default_rng(0).standard_normal((4, 2, 3, 4))
    got = batch([node], x, ad.Constant(rows))[0]()
    for b in range(4):
        np.testing.assert_array_equal(got[b], rows[b][[0, 1], :, [1, 3]])


def test_outputs_that_do_not_depend_on_the_placeholder_are_broadcast():
    x = ad.Variable(np.ones(2), name="x")
    y = ad.Variable(np.array([3.0, 4.0]), name="y")
    out, = batch([ad.sin(y)], x, ad.Constant(np.zeros((5, 2))))
    assert out.shape == (5, 2) and np.allclose(out(), np.sin([3.0, 4.0]))
