"""Generated straight-line code: the same values as the step loop, in chunks of any size,
and a failure in generated code is reported by the loop, naming the node."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.runtime import codegen
from graphs import random_graphs


@settings(max_examples=60, deadline=None)
@given(random_graphs(), st.integers(1, 4))
def test_generated_code_in_small_chunks_computes_the_same_values(graph, chunk):
    """Long schedules compile to several functions handing values over in the buffer;
    chunks of 1-4 steps put a boundary between almost every producer and reader."""
    outputs, expected, _ = graph
    saved, codegen.CHUNK = codegen.CHUNK, chunk
    try:
        f = ad.Function(outputs, simplify=False)
        for _ in range(3):  # loop, then generated code twice
            for got, want in zip(f(), expected):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    finally:
        codegen.CHUNK = saved


def test_a_failure_in_generated_code_names_the_node():
    x = ad.Variable(np.array([1.0, 2.0]), name="x")

    class FailsOnNegatives(ad.Node):
        elementwise = True

        def forward(self, v):
            if np.any(v < 0):
                raise ValueError("negative input")
            return v

    f = ad.function(FailsOnNegatives(ad.sin(x) * 3, name="picky"), inputs=[x])
    f(np.array([1.0, 2.0]))
    f(np.array([1.0, 2.0]))  # compiled from here on
    assert f._compiled is not None
    with pytest.raises(ad.EvaluationError, match="picky.*negative input"):
        f(np.array([-1.0, 2.0]))


def test_generated_code_frees_values_after_their_last_use():
    x = ad.Variable(np.ones(4), name="x")
    y = x
    for _ in range(20):
        y = ad.sin(y)
    f = ad.Function(y, simplify=False)
    run = codegen.compile_steps(f.steps, f.output_slots)
    buf = [None] * f.size
    buf[f.leaves[0][0]] = x.value
    out, = run(buf)
    expected = np.ones(4)
    for _ in range(20):
        expected = np.sin(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    alive = [v for v in buf if v is not None]
    assert len(alive) <= 2  # the chain keeps at most the input and the output
