"""Generated straight-line code: the same values as the step loop, in chunks of any size,
and a failure in generated code is reported by the loop, naming the node."""
import contextlib
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.runtime import codegen
from graphs import random_graphs


@contextlib.contextmanager
def codegen_limits(chunk=None, depth=None, inline_reads=None):
    """codegen's CHUNK, MAX_DEPTH and INLINE_READS set for the block (None: unchanged)."""
    names = ("CHUNK", "MAX_DEPTH", "INLINE_READS")
    saved = [getattr(codegen, n) for n in names]
    for name, value in zip(names, (chunk, depth, inline_reads)):
        if value is not None:
            setattr(codegen, name, value)
    try:
        yield
    finally:
        for name, value in zip(names, saved):
            setattr(codegen, name, value)


@settings(max_examples=80, deadline=None)
@given(random_graphs(), st.integers(1, 4), st.sampled_from([1, 2, 3, 50]),
       st.sampled_from([0, 1, 4]))
def test_generated_code_in_small_chunks_computes_the_same_values(graph, chunk, depth, reads):
    """Long schedules compile to several functions handing values over in the buffer;
    chunks of 1-4 steps put a boundary between almost every producer and reader. Calls
    nested 1-3 deep end nesting at every other step; values read up to `reads` times
    are read in place, the others from local variables."""
    outputs, expected, _ = graph
    with codegen_limits(chunk, depth, reads):
        f = ad.Function(outputs, simplify=False)
        for _ in range(3):  # loop, then generated code twice
            for got, want in zip(f(), expected):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
            f._run_steps = _no_fallback  # the generated code must run to the end


def _no_fallback(*args):
    """In place of `Function._run_steps`: a failure in generated code hands over to the
    step loop, which would hide it."""
    raise AssertionError("the generated code failed and the step loop ran instead")


def _values_read_twice(n_values):
    """A chain where each value is read twice, by its successor and the one after it,
    and by a sum of all of them: values named inside expressions, locals read for the
    last time, values handed over between chunks."""
    x = ad.Variable(np.linspace(0.0, 1.0, n_values), name="x")
    a, b = ad.sin(x), ad.cos(x)
    terms = []
    for k in range(12):
        a, b = b, ad.sin(a) * b if k % 3 else ad.cos(b) + a
        terms.append(ad.tanh(a))
    return x, [ad.Add(*terms), b]


@pytest.mark.parametrize("chunk, depth", [(1000, 50), (3, 50), (1000, 2), (7, 1)])
def test_generated_code_holds_no_more_than_the_schedule_plans(chunk, depth):
    """Traced memory of a call (numpy reports its buffers to tracemalloc) stays within the
    planned peak, plus Python's small objects: a value the generated code kept past its
    last reader would add a whole array."""
    n_values = 20000  # 160 kB per array
    x, outputs = _values_read_twice(n_values)
    with codegen_limits(chunk, depth):
        f = ad.Function(outputs, simplify=False)
        loop_peak, loop_values = _traced_call(f)  # the first call runs the step loop
        f()  # the second compiles
        assert f._compiled is not None
        peak, values = _traced_call(f)
    for got, want in zip(values, loop_values):
        np.testing.assert_array_equal(got, want)
    slack = 8 * n_values // 4  # Python's objects: far less than one array
    assert loop_peak <= f.planned_peak_bytes() + slack
    assert peak <= f.planned_peak_bytes() + slack


def _traced_call(f):
    """(tracemalloc's peak during ``f()``, its values)."""
    tracemalloc.start()
    try:
        values = f()
        return tracemalloc.get_traced_memory()[1], values
    finally:
        tracemalloc.stop()


def test_a_slot_reused_for_a_value_read_twice_is_read_after_it_is_assigned():
    """A slot held v0 + v0, then (reused) a sum read twice by one product chain. Named
    inside a nested argument, the sum was assigned only after an earlier argument had
    read the slot's old value: the second call (generated code) gave half the product."""
    v0 = ad.Variable(np.array([0.12573022, -0.13210486, 0.64042265]), name="v0")
    twice = ad.Add(v0, v0)
    t = ad.Add(v0, twice, v0)
    product = v0 * (t * (v0 * t))
    other = ad.Add(ad.Add(v0, v0, v0), ad.Add(v0, twice))
    f = ad.Function([t, product, other], simplify=False, search_schedule=True)
    expected = [4 * v0.value, 16 * v0.value ** 4, 6 * v0.value]
    for _ in range(3):  # the loop, then the generated code
        for got, want in zip(f(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_value_read_beside_a_nested_call_is_not_cleared_before_the_call_reads_it():
    """clip's gradient, where(mask, where(mask2, g, 0), 0) with the mask read by the
    outer call directly and by a nested one: read first, as the outer call's last read,
    the mask was cleared before the nested call read it, and the generated code (the
    second call on) passed the cotangent through where it had to give 0."""
    x = ad.Variable(np.array(1.545), name="x")
    g, = ad.grad(ad.clip(x, -0.5, 0.7), [x], previous_grad=np.array(0.9))
    f = ad.Function([g], simplify=False)
    for _ in range(3):  # the loop, then the generated code
        assert f()[0] == 0.0
    x.value = np.array(0.2)
    assert f()[0] == 0.9


@st.composite
def _programs(draw):
    """Graphs where computed values are read by several later steps, directly and through
    chains of one-reader steps (which the generated code nests as arguments): sums and
    products of 1-3 earlier values, some through sin or cos."""
    x = ad.Variable(np.linspace(-1.0, 1.0, 3), name="x")
    values = [ad.sin(x)]
    for _ in range(draw(st.integers(3, 14))):
        picks = draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=3))
        args = [values[i] if draw(st.booleans()) else ad.cos(values[i]) for i in picks]
        node = args[0] if len(args) == 1 else (
            ad.Add(*args) if draw(st.booleans()) else ad.Mul(args[0], args[-1]))
        values.append(ad.sin(node))
    outputs = [values[-1]] + [values[i] for i in draw(st.lists(
        st.integers(0, len(values) - 1), max_size=2))]
    return outputs


@settings(max_examples=150, deadline=None)
@given(_programs(), st.sampled_from([1, 2, 50]))
def test_generated_code_computes_what_the_step_loop_does(outputs, depth):
    """Values read by several steps, directly and inside nested calls, in any order: the
    generated code (second and third calls) gives the loop's values (the first call),
    and runs to the end (a failure there would hand over to the loop, hiding it)."""
    with codegen_limits(depth=depth):
        f = ad.Function(outputs, simplify=False)
        first = f()
        f._run_steps = _no_fallback
        for _ in range(2):
            for got, want in zip(f(), first):
                np.testing.assert_array_equal(got, want)
