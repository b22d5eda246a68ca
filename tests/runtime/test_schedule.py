"""The evaluation schedule: any order it picks computes the same values, and the orders it
picks keep memory low where a naive order would not (sums over time steps, checkpoints)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.runtime.schedule import add_into_total
from graphs import random_graphs


@settings(max_examples=150, deadline=None)
@given(random_graphs(), st.booleans())
def test_any_schedule_computes_the_same_values(graph, search):
    outputs, expected, variables = graph
    before = [v.value.copy() for v in variables]
    f = ad.Function(outputs, simplify=False, search_schedule=search)
    for _ in range(2):  # twice: a running total written in place must not leak into a rerun
        for got, want in zip(f(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(v.value, b)  # in-place sums never touch a Variable


def test_add_into_total_writes_only_a_fresh_total_of_the_result_shape():
    total = np.zeros(3)
    assert add_into_total(total, np.ones(3)) is total
    small = np.zeros(3)
    grown = add_into_total(small, np.ones((2, 3)))  # broadcasting: a new array
    assert grown.shape == (2, 3) and not small.any()
    view = np.zeros((2, 3))[0]
    assert add_into_total(view, np.ones(3)) is not view
    ints = np.zeros(3, dtype=np.int64)
    assert add_into_total(ints, np.full(3, 0.5)).dtype == np.float64 and not ints.any()


def _rnn_gradient(steps, hidden, segment=None):
    """f = function([loss, dW]) for h_t = tanh(h_{t-1} @ W + x_t), loss = sum_t sum(h_t);
    `segment`: checkpoint each run of that many steps."""
    rng = np.random.default_rng(0)
    W = ad.Variable(rng.standard_normal((hidden, hidden)) * 0.3, name="W")
    X = ad.Variable(rng.standard_normal((steps, 1, hidden)), name="X")
    h0 = ad.Variable(np.zeros((1, hidden)), name="h0")

    def block(h, xs):
        loss = None
        for t in range(xs.shape[0]):
            h = ad.tanh(h @ W + xs[t])
            loss = ad.sum(h) if loss is None else loss + ad.sum(h)
        return h, loss

    if segment is None:
        _, loss = block(h0, X)
    else:
        run, h, losses = ad.checkpoint(block), h0, []
        for start in range(0, steps, segment):
            h, part = run(h, X[start:start + segment])
            losses.append(part)
        loss = ad.Add(*losses)
    return ad.function([loss, ad.grad(loss, [W])[0]]), W, X


def _rnn_reference(W, X):
    """Loss and dW by hand (backpropagation through time)."""
    hs = [np.zeros((1, W.shape[0]))]
    for x in X:
        hs.append(np.tanh(hs[-1] @ W + x))
    dW, dh = np.zeros_like(W), np.zeros_like(hs[0])
    for t in range(len(X), 0, -1):
        dpre = (dh + 1.0) * (1 - hs[t] ** 2)
        dW += hs[t - 1].T @ dpre
        dh = dpre @ W.T
    return sum(h.sum() for h in hs[1:]), dW


def test_gradient_summed_over_time_keeps_one_running_total():
    steps, hidden = 200, 40
    f, W, X = _rnn_gradient(steps, hidden)
    loss, dW = f()
    want_loss, want_dW = _rnn_reference(W.value, X.value)
    assert np.isclose(loss, want_loss) and np.allclose(dW, want_dW)
    vector, matrix = hidden * 8, hidden * hidden * 8
    # per time step a few vectors (h_t and what its backward reads), and a handful of
    # hidden x hidden matrices (the total, one term, the output); summing all 200 outer
    # products at once would hold 200 matrices (2.5 MB)
    assert f.planned_peak_bytes() <= 2 * steps * vector + 6 * matrix


@pytest.mark.parametrize("segment", [10, 20])
def test_checkpointed_segments_keep_less_than_the_plain_graph(segment):
    # (long enough that the hidden states, not the few matrices, make the plain peak)
    steps, hidden = 400, 40
    plain, W, X = _rnn_gradient(steps, hidden)
    checkpointed, W2, X2 = _rnn_gradient(steps, hidden, segment)
    for got, want in zip(checkpointed(), _rnn_reference(W2.value, X2.value)):
        assert np.allclose(got, want)
    # kept: a hidden state per segment start, and one segment's intermediates at a time
    assert checkpointed.planned_peak_bytes() * 2 < plain.planned_peak_bytes()


def test_sums_of_masks_and_small_integers_keep_numpys_order():
    """bool + bool is a logical or and uint8 wraps: such sums are not reordered."""
    x = ad.Variable(np.zeros(3), name="x")
    m1, m2 = np.array([True, True, False]), np.array([True, False, False])
    pixels = np.array([200, 100, 0], dtype=np.uint8)
    for y, want in [(ad.sin(x) + m1 + m2, np.sin(x.value) + m1 + m2),
                    (ad.sin(x) + pixels + pixels, np.sin(x.value) + pixels + pixels),
                    (ad.Add(ad.sin(x), m1, m2, m1), np.sin(x.value) + m1 + m2 + m1)]:
        for f in (ad.Function(y, simplify=False), ad.Function(y)):
            np.testing.assert_array_equal(f(), want)
        np.testing.assert_array_equal(y(), want)


def test_outputs_never_alias_stored_arrays():
    x = ad.Variable(np.array([1.0, 2.0, 3.0]), name="x")
    v = ad.Variable(np.array([4.0, 5.0]), name="v")
    f = ad.Function([ad.stop_gradient(x), x, v * 2], inputs=[v])
    fed = np.array([4.0, 5.0])
    for _ in range(2):  # the first call runs the step loop, the second generated code
        passed, same, _ = f(fed)
        passed[:] = 0
        same[:] = 0
    np.testing.assert_array_equal(x.value, [1.0, 2.0, 3.0])
    g = ad.Function(v, inputs=[v])
    out = g(fed)
    out[:] = 0
    np.testing.assert_array_equal(fed, [4.0, 5.0])


# --- planned peaks against bounds from first principles ------------------------------
# A gradient by backpropagation needs, when its backward pass starts, every forward value
# the backward reads; beyond those, a good schedule holds only the few values of the
# step it is at, and the outputs made so far. Each bound below counts those values; a
# schedule that kept a second copy of the per-step values (or a value per step it could
# have dropped) would exceed it.

def test_rnn_gradient_holds_one_hidden_state_per_step_and_three_matrices():
    steps, hidden = 200, 40
    f, W, X = _rnn_gradient(steps, hidden)
    for got, want in zip(f(), _rnn_reference(W.value, X.value)):
        assert np.allclose(got, want)
    vector, matrix, scalar = hidden * 8, hidden * hidden * 8, 8
    # h_t for every t (read by the backward step of t and by the outer product of t+1);
    # the running total of dW, and two outer products at its first addition; the row-major
    # copy of W.T the backward products read (layouts.py); the gradient, pre-activation
    # gradient, tanh derivative and product of the current step
    kept = steps * vector + 4 * matrix + 4 * vector + 2 * scalar
    assert f.planned_peak_bytes() <= kept


@pytest.mark.parametrize("segment", [10, 20])
def test_checkpointed_rnn_holds_segment_starts_and_one_segment(segment):
    steps, hidden = 200, 40
    f, W, X = _rnn_gradient(steps, hidden, segment)
    for got, want in zip(f(), _rnn_reference(W.value, X.value)):
        assert np.allclose(got, want)
    vector, matrix, scalar = hidden * 8, hidden * hidden * 8, 8
    # the hidden state at each segment's start and each segment's loss, one segment's
    # recomputed hidden states, and what the plain gradient holds besides its states
    kept = ((steps // segment + segment) * vector + steps // segment * scalar
            + 4 * matrix + 4 * vector + 2 * scalar)
    assert f.planned_peak_bytes() <= kept


def _mlp_gradient(depth, width, batch, block=None):
    """f = function([loss, *dW, *db]) for `depth` layers h = tanh(h @ W + b) and loss =
    mean(h**2); with `block`, each run of `block` layers is checkpointed."""
    rng = np.random.default_rng(1)
    Ws = [ad.Variable(rng.standard_normal((width, width)) / width ** 0.5, name=f"W{k}")
          for k in range(depth)]
    bs = [ad.Variable(rng.standard_normal(width) * 0.1, name=f"b{k}") for k in range(depth)]
    x = ad.Variable(rng.standard_normal((batch, width)), name="x")

    def layers(h, first, stop):
        for k in range(first, stop):
            h = ad.tanh(h @ Ws[k] + bs[k])
        return h

    h = x
    for first in range(0, depth, block or depth):
        stop = first + (block or depth)
        run = ad.checkpoint(lambda h, a=first, b=stop: layers(h, a, b)) if block else (
            lambda h, a=first, b=stop: layers(h, a, b))
        h = run(h)
    loss = ad.mean(h ** 2)
    return ad.function([loss, *ad.grad(loss, Ws + bs)]), Ws, bs, x


def _mlp_reference(Ws, bs, x):
    """Loss and gradients by hand (backpropagation)."""
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(np.tanh(hs[-1] @ W + b))
    g = 2 * hs[-1] / hs[-1].size
    dWs, dbs = [], []
    for k in range(len(Ws) - 1, -1, -1):
        dpre = g * (1 - hs[k + 1] ** 2)
        dWs.append(hs[k].T @ dpre)
        dbs.append(dpre.sum(axis=0))
        g = dpre @ Ws[k].T
    return [np.mean(hs[-1] ** 2), *dWs[::-1], *dbs[::-1]]


@pytest.mark.parametrize("block", [None, 4])
def test_deep_mlp_gradient_holds_each_layers_output_once(block):
    depth, width, batch = 16, 32, 256
    f, Ws, bs, x = _mlp_gradient(depth, width, batch, block)
    want = _mlp_reference([W.value for W in Ws], [b.value for b in bs], x.value)
    for got, w in zip(f(), want):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)
    activation, weights = batch * width * 8, width * (width + 1) * 8
    # every layer's output (its tanh derivative and the next layer's weight gradient read
    # it; x is a Variable's), or with checkpoints each block's output and one block's
    # recomputed insides; four activations of the layer at hand (incoming gradient, tanh
    # derivative, their product, outgoing gradient); every weight and bias gradient
    kept_activations = depth if block is None else depth // block + block
    kept = (kept_activations + 4) * activation + depth * weights + 64
    assert f.planned_peak_bytes() <= kept
