"""The planner's transposed copies (runtime/layouts.py): derivative products ``a @ W.T``
that share W read one row-major copy of W.T; what the user wrote runs as written."""
import numpy as np
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.runtime.layouts import MAX_COPIED_ELEMENTS, TransposedCopy


def _copies(f):
    return [step for step in f.steps if isinstance(step[4], TransposedCopy)]


def _input_gradients(batches, W):
    """The gradients of sum_t sum(sin(A_t @ W)) with respect to each A_t: one product
    with W.T per t (the einsum ``ik,jk->ij`` a derivative transform builds)."""
    loss = ad.Add(*[ad.sum(ad.sin(a @ W)) for a in batches]) if len(batches) > 1 \
        else ad.sum(ad.sin(batches[0] @ W))
    return ad.grad(loss, batches)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7),
       st.integers(0, 2**16))
def test_products_with_a_shared_transposed_matrix_read_one_copy(steps, rows, inner, outer,
                                                                 seed):
    rng = np.random.default_rng(seed)
    W = ad.Variable(rng.standard_normal((inner, outer)), name="W")
    batches = [ad.Variable(rng.standard_normal((rows, inner)), name=f"a{t}")
               for t in range(steps)]
    grads = _input_gradients(batches, W)
    f = ad.function(grads)
    assert len(_copies(f)) == 1
    for _ in range(2):  # the step loop, then the generated code
        for got, a in zip(f(), batches):
            want = np.cos(a.value @ W.value) @ W.value.T
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, a in zip(ad.evaluate(grads), batches):  # the one-off plan
        np.testing.assert_allclose(got, np.cos(a.value @ W.value) @ W.value.T, atol=1e-12)


def test_a_rebuilt_graph_reuses_the_plan_with_its_copy_on_new_values():
    rng = np.random.default_rng(0)
    W = ad.Variable(rng.standard_normal((4, 3)), name="W")
    for _ in range(3):
        batches = [ad.Variable(rng.standard_normal((2, 4)), name=f"a{t}") for t in range(3)]
        W.value = rng.standard_normal((4, 3))
        for got, a in zip(ad.evaluate(_input_gradients(batches, W)), batches):
            np.testing.assert_allclose(got, np.cos(a.value @ W.value) @ W.value.T,
                                       atol=1e-12)


def test_products_the_user_wrote_run_as_written():
    rng = np.random.default_rng(1)
    W = ad.Variable(rng.standard_normal((5, 4)), name="W")
    xs = [ad.Variable(rng.standard_normal((3, 4)), name=f"x{t}") for t in range(3)]
    outs = [ad.einsum("ik,jk->ij", x, W) for x in xs]
    f = ad.function(outs)
    assert not _copies(f)
    for got, x in zip(f(), xs):
        np.testing.assert_array_equal(got, np.dot(x.value, W.value.T))


def test_a_matrix_read_once_or_too_large_is_not_copied():
    rng = np.random.default_rng(2)
    small = ad.Variable(rng.standard_normal((3, 3)), name="small")
    a = ad.Variable(rng.standard_normal((2, 3)), name="a")
    assert not _copies(ad.function(_input_gradients([a], small)))
    side = int(np.sqrt(MAX_COPIED_ELEMENTS)) + 1
    large = ad.Variable(rng.standard_normal((side, side)) / side, name="large")
    batches = [ad.Variable(rng.standard_normal((1, side)), name=f"b{t}") for t in range(2)]
    f = ad.function(_input_gradients(batches, large))
    assert not _copies(f)
    for got, b in zip(f(), batches):
        np.testing.assert_allclose(got, np.cos(b.value @ large.value) @ large.value.T,
                                   atol=1e-12)
