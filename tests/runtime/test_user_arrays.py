"""Evaluation never writes into an array a user owns: over the whole op table, every
Variable's array, every numpy operand and every input passed to a compiled function is
bitwise unchanged after evaluating the op's value, gradient and second derivative, one-off
and compiled (both the step loop and the generated code)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad
from op_specs import SPECS

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_no_evaluation_changes_a_users_array(spec, data):
    shapes = tuple(tuple(s) for s in data.draw(spec.shapes, label="shapes"))
    rng = np.random.default_rng(1)
    values = [np.array(d.sample(rng, s)) for d, s in zip(spec.domains, shapes)]
    variables = [ad.Variable(v, name=f"x{i}") if d.differentiable else None
                 for i, (d, v) in enumerate(zip(spec.domains, values))]
    operands = [var if var is not None else v for var, v in zip(variables, values)]
    wrt = [v for v in variables if v is not None]
    # the arrays a user holds: each Variable's value, and each numpy operand
    held = [var.value if var is not None else v for var, v in zip(variables, values)]
    before = [a.tobytes() for a in held]

    node = spec.fn(*operands, **spec.kwargs_for(shapes))
    outputs = [node]
    if spec.differentiable and wrt:
        cotangent = rng.standard_normal(node.shape)
        firsts = ad.grad(node, wrt, previous_grad=cotangent)
        outputs += firsts + ad.grad(ad.sum(firsts[0] * firsts[0]), wrt)
    ad.evaluate(outputs)
    ad.evaluate(outputs, simplify=True)
    if wrt:
        inputs = [w.value.copy() for w in wrt]
        inputs_before = [a.tobytes() for a in inputs]
        f = ad.function(outputs, inputs=wrt)
        f(*inputs)
        f(*inputs)  # the generated code runs from the second call
        assert [a.tobytes() for a in inputs] == inputs_before
    assert [a.tobytes() for a in held] == before


def test_kernels_see_leaves_as_read_only():
    x = ad.Variable(np.arange(3.0), name="x")

    class WritesItsInput(ad.Node):
        """A faulty op that writes into its operand."""
        elementwise = True

        def forward(self, v):
            v += 1
            return v

    with pytest.raises(ad.EvaluationError, match="read-only"):
        WritesItsInput(x)()
    assert np.array_equal(x.value, [0.0, 1.0, 2.0])
