"""Losses against torch.nn.functional (float64): values and gradients for every
reduction, integer / node / one-hot / probability labels, ignore_index, and stability at
logits of +-1e4."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import autodiff as ad
from autodiff import nn

TOL = 1e-9
REDUCTIONS = ["mean", "sum", "none"]


def check(ours_fn, torch_fn, inputs, wrt=(0,), tol=TOL):
    """ours_fn(*nodes) and torch_fn(*tensors): same value, same gradients wrt `wrt`."""
    nodes = [ad.Variable(x) if i in wrt else x for i, x in enumerate(inputs)]
    tensors = [torch.tensor(x, requires_grad=i in wrt) for i, x in enumerate(inputs)]
    y, ty = ours_fn(*nodes), torch_fn(*tensors)
    cotangent = np.random.default_rng(0).standard_normal(ty.shape)
    (ty * torch.tensor(cotangent)).sum().backward()
    values = ad.evaluate([y] + ad.grad(ad.sum(y * cotangent), [nodes[i] for i in wrt]))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(values[0], ty.detach().numpy(), rtol=tol, atol=tol)
    for got, i in zip(values[1:], wrt):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, tensors[i].grad.numpy(), rtol=tol, atol=tol)
    return values[0]


rng = np.random.default_rng(1)
LOGITS = rng.standard_normal((6, 5)) * 3
LABELS = np.array([0, 4, 2, 2, 1, 3])
ONE_HOT = np.eye(5)[LABELS]
PROBS = rng.dirichlet(np.ones(5), size=6)
WEIGHTS = rng.uniform(0, 2, (6, 5))  # soft labels that are not distributions


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check(lambda x, y: nn.mse_loss(x, y, reduction=reduction),
          lambda x, y: F.mse_loss(x, y, reduction=reduction), [a, b], wrt=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("labels", ["integers", "one_hot", "probabilities", "weights"])
def test_softmax_cross_entropy(reduction, labels):
    target = {"integers": LABELS, "one_hot": ONE_HOT, "probabilities": PROBS,
              "weights": WEIGHTS}[labels]
    check(lambda z, y: nn.softmax_cross_entropy(z, y, reduction=reduction),
          lambda z, y: F.cross_entropy(z, y, reduction=reduction), [LOGITS, target])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_cross_entropy_with_labels_as_a_node_fed_at_each_call(reduction):
    """Integer labels held by a Variable: the compiled function takes new labels."""
    z, y = ad.Variable(LOGITS), ad.Variable(np.zeros(6))
    loss = nn.softmax_cross_entropy(z, y, reduction=reduction)
    step = ad.function([loss, *ad.grad(loss, [z])], inputs=[y])
    for labels in (LABELS, LABELS[::-1].copy()):
        tz = torch.tensor(LOGITS, requires_grad=True)
        expected = F.cross_entropy(tz, torch.tensor(labels), reduction=reduction)
        expected.sum().backward()
        value, grad = step(labels)
        np.testing.assert_allclose(value, expected.detach().numpy(), atol=TOL)
        np.testing.assert_allclose(grad, tz.grad.numpy(), atol=TOL)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("as_node", [False, True])
def test_ignore_index_drops_rows(reduction, as_node):
    labels = np.array([0, -100, 2, 2, -100, 3])
    tz = torch.tensor(LOGITS, requires_grad=True)
    expected = F.cross_entropy(tz, torch.tensor(labels), reduction=reduction)
    expected.sum().backward()
    z = ad.Variable(LOGITS)
    loss = nn.softmax_cross_entropy(z, ad.Variable(labels) if as_node else labels,
                                    reduction=reduction)
    np.testing.assert_allclose(loss(), expected.detach().numpy(), atol=TOL)
    np.testing.assert_allclose(ad.grad(loss, [z])[0](), tz.grad.numpy(), atol=TOL)


def test_class_axis_is_last_for_more_dimensions():
    z = rng.standard_normal((2, 4, 5))
    labels = rng.integers(0, 5, size=(2, 4))
    check(lambda a, y: nn.softmax_cross_entropy(a, y, reduction="none"),
          lambda a, y: F.cross_entropy(a.permute(0, 2, 1), y, reduction="none"), [z, labels])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    log_probs = torch.log_softmax(torch.tensor(LOGITS), 1).numpy()
    check(lambda p, y: nn.nll_loss(p, y, reduction=reduction),
          lambda p, y: F.nll_loss(p, y, reduction=reduction), [log_probs, LABELS])
    labels = LABELS.copy()
    labels[1] = 7  # ignore_index
    check(lambda p, y: nn.nll_loss(p, y, reduction=reduction, ignore_index=7),
          lambda p, y: F.nll_loss(p, y, reduction=reduction, ignore_index=7),
          [log_probs, labels])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight"])
def test_binary_cross_entropy_with_logits(reduction, options):
    z = rng.standard_normal((4, 3)) * 4
    y = rng.uniform(0, 1, (4, 3))
    extra = {"plain": {}, "weight": {"weight": rng.uniform(0.5, 2, (4, 3))},
             "pos_weight": {"pos_weight": np.array([0.5, 1.0, 3.0])}}[options]
    check(lambda a, b: nn.binary_cross_entropy_with_logits(a, b, reduction=reduction, **extra),
          lambda a, b: F.binary_cross_entropy_with_logits(
              a, b, reduction=reduction, **{k: torch.tensor(v) for k, v in extra.items()}),
          [z, y], wrt=(0, 1))


# --- extreme logits -----------------------------------------------------------------------

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]])


@pytest.mark.parametrize("labels", [np.array([1, 0, 2]), np.eye(3)[[1, 0, 2]]])
def test_cross_entropy_is_stable_at_extreme_logits(labels):
    value = check(lambda z, y: nn.softmax_cross_entropy(z, y, reduction="none"),
                  lambda z, y: F.cross_entropy(z, y, reduction="none"), [EXTREME, labels])
    assert np.all(np.isfinite(value)) and value.max() > 1e4


def test_nll_and_binary_losses_are_stable_at_extreme_logits():
    log_probs = torch.log_softmax(torch.tensor(EXTREME), 1).numpy()
    check(lambda p, y: nn.nll_loss(p, y), lambda p, y: F.nll_loss(p, y),
          [log_probs, np.array([1, 0, 2])])
    targets = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 0.0]])
    for extra in ({}, {"pos_weight": np.array([2.0, 1.0, 0.5])}):
        value = check(
            lambda a, b: nn.binary_cross_entropy_with_logits(a, b, reduction="none", **extra),
            lambda a, b: F.binary_cross_entropy_with_logits(
                a, b, reduction="none", **{k: torch.tensor(v) for k, v in extra.items()}),
            [EXTREME, targets])
        assert np.all(np.isfinite(value))


# --- errors -------------------------------------------------------------------------------

def test_bad_labels_and_reductions_raise_when_built():
    z = ad.Variable(LOGITS)
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        nn.softmax_cross_entropy(z, np.array([0, 1, 2, 3, 4, 5]))
    with pytest.raises(ValueError, match="fit neither"):
        nn.softmax_cross_entropy(z, np.zeros((6, 4)))
    with pytest.raises(TypeError, match="integers"):
        nn.nll_loss(z, np.zeros(6))
    with pytest.raises(ValueError, match="reduction"):
        nn.mse_loss(z, z, reduction="average")
    with pytest.raises(ValueError, match="class axis"):
        nn.softmax_cross_entropy(ad.Variable(1.0), np.array(0))


def test_integer_labels_of_each_new_batch_reuse_the_plan_and_the_derivative_graph():
    """A step rebuilt with the next batch's integer labels (and ignored rows) has the
    same structure: no step plans anew, and each value matches PyTorch."""
    from autodiff.runtime import evaluation
    evaluation.clear_plan_cache()
    rng = np.random.default_rng(3)
    w = ad.Variable(rng.standard_normal((4, 5)), name="w")
    for _ in range(5):
        x = rng.standard_normal((6, 4))
        labels = rng.integers(0, 5, 6)
        labels[rng.integers(0, 6)] = -100  # one ignored row per batch
        loss = nn.softmax_cross_entropy(ad.Constant(x) @ w, labels)
        value, grad = ad.evaluate([loss] + ad.grad(loss, [w]))
        tw = torch.tensor(w.value, requires_grad=True)
        expected = F.cross_entropy(torch.tensor(x) @ tw, torch.tensor(labels))
        expected.backward()
        np.testing.assert_allclose(value, expected.item(), rtol=TOL)
        np.testing.assert_allclose(grad, tw.grad.numpy(), rtol=TOL, atol=TOL)
    # one plan for the graphs the rules built (steps 1-2), one for the copies (3-5)
    assert len(evaluation._plans) == 2
