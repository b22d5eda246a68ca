"""The op table on the jax backend: values, first and second derivatives agree with the
numpy backend to 1e-12 (float64), for every op, on hypothesis-drawn shapes and values."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad
from op_specs import SPECS

# Each example compiles one XLA program (value, gradients and second derivatives at once):
# fewer examples than the numpy table, the same specs.
SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def close(jax_value, numpy_value):
    """Agreement to 1e-12 relative to the array's scale (XLA's elementwise functions are
    within a few ulp of numpy's, so element-wise relative error is not the measure)."""
    a, b = np.asarray(jax_value), np.asarray(numpy_value)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype == bool:
        assert np.array_equal(a, b)
        return
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    assert np.max(np.abs(a - b), initial=0.0) <= 1e-12 * scale, (a, b)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_jax_backend_matches_numpy_backend(spec, data):
    shapes = tuple(tuple(s) for s in data.draw(spec.shapes, label="shapes"))
    rng = np.random.default_rng(3)
    values = [np.array(d.sample(rng, s)) for d, s in zip(spec.domains, shapes)]
    variables = [ad.Variable(v, name=f"x{i}") if d.differentiable else None
                 for i, (d, v) in enumerate(zip(spec.domains, values))]
    operands = [var if var is not None else v for var, v in zip(variables, values)]
    wrt = [v for v in variables if v is not None]
    node = spec.fn(*operands, **spec.kwargs_for(shapes))
    outputs = [node]
    if spec.differentiable and wrt:
        cotangent = rng.standard_normal(node.shape)
        firsts = ad.grad(node, wrt, previous_grad=cotangent)
        directions = [rng.standard_normal(w.shape) for w in wrt]
        seconds = ad.grad(ad.sum(ad.Add(*[ad.sum(g * d) for g, d in zip(firsts, directions)])),
                          wrt)
        outputs += firsts + seconds
    expected = ad.function(outputs, inputs=wrt)(*[w.value for w in wrt])
    got = ad.function(outputs, inputs=wrt, backend="jax")(*[w.value for w in wrt])
    for g, e in zip(got, expected):
        close(g, e)
