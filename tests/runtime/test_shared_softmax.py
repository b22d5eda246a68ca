"""A softmax cross-entropy and its logits' gradient in one plan read one log-softmax
step (runtime/shared_softmax.py): the loss keeps its bits, the gradient its value."""
import numpy as np
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.runtime.shared_softmax import LogSoftmaxRows


def _shared_steps(f):
    return [step for step in f.steps if isinstance(step[4], LogSoftmaxRows)]


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.sampled_from([1.0, 30.0, 1e4]),
       st.booleans(), st.integers(0, 2**16))
def test_loss_and_gradient_share_one_log_softmax(rows, classes, scale, one_hot, seed):
    rng = np.random.default_rng(seed)
    z = ad.Variable(rng.standard_normal((rows, classes)) * scale, name="z")
    labels = np.eye(classes)[rng.integers(0, classes, rows)] if one_hot else \
        rng.uniform(0, 1, (rows, classes))  # label weights whose rows need not sum to 1
    y = ad.Variable(labels, name="y")
    weights = rng.standard_normal(rows)
    loss = ad.sum(ad.SoftmaxCEWithLogits(y, z) * weights)
    dz, = ad.grad(loss, [z])
    f = ad.function([loss, dz])
    assert len(_shared_steps(f)) == 1
    alone = ad.function(loss)  # no gradient in the plan: the fused loss kernel
    assert not _shared_steps(alone)
    for _ in range(2):  # the step loop, then the generated code
        got_loss, got_dz = f()
        assert got_loss == alone()  # the loss, bit for bit
        want = weights[:, None] * (_softmax(z.value) * labels.sum(axis=-1, keepdims=True)
                                   - labels)
        assert np.all(np.isfinite(got_dz))
        np.testing.assert_allclose(got_dz, want, rtol=1e-10, atol=1e-12)


def test_a_rebuilt_training_step_gets_new_values_through_the_cached_plan():
    rng = np.random.default_rng(3)
    W = ad.Variable(rng.standard_normal((4, 5)), name="W")
    for _ in range(3):
        x, labels = rng.standard_normal((2, 4)), np.eye(5)[rng.integers(0, 5, 2)]
        loss = ad.sum(ad.SoftmaxCEWithLogits(labels, x @ W))
        got_loss, got_dW = ad.evaluate([loss, ad.grad(loss, [W])[0]])
        logits = x @ W.value
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        np.testing.assert_allclose(got_loss, -np.sum(labels * log_probs), rtol=1e-12)
        np.testing.assert_allclose(got_dW, x.T @ (_softmax(logits) - labels), atol=1e-12)
        W.value = W.value - 0.1 * got_dW
