"""Optimisers against torch.optim (float64): the same trajectories to 1e-10 over several
steps of a real training problem; first step not a no-op; checked steps; exact resume from
a state dict; gradient clipping against torch.nn.utils."""
import numpy as np
import pytest
import torch

import autodiff as ad
from autodiff import nn

STEPS = 6

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True,
                 "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True, "eps": 1e-6}),
]


def problem(seed=0):
    """A small model, its loss as a compiled function, and the same in torch."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(), nn.Linear(4, 2, rng=rng))
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    loss = nn.mse_loss(model(ad.Variable(x)), y)
    grads = ad.function([loss, *ad.grad(loss, model.parameters())])
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p, v in zip(theirs.parameters(), model.parameters()):
            p.copy_(torch.tensor(v.value))

    def torch_step(opt):
        opt.zero_grad()
        torch.nn.functional.mse_loss(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()

    return model, grads, theirs, torch_step


@pytest.mark.parametrize("name, options", CONFIGS, ids=lambda c: str(c))
def test_trajectories_equal_torch_optim(name, options):
    model, grads, theirs, torch_step = problem()
    opt = getattr(nn, name)(model.parameters(), **options)
    topt = getattr(torch.optim, name)(theirs.parameters(), **options)
    start = [p.value.copy() for p in model.parameters()]
    for step in range(STEPS):
        _, *g = grads()
        opt.step(g)
        torch_step(topt)
        for ours, their in zip(model.parameters(), theirs.parameters()):
            np.testing.assert_allclose(ours.value, their.detach().numpy(), rtol=0, atol=1e-10)
        if step == 0:  # the first step moves every parameter (no warm-up no-op)
            assert all(not np.array_equal(p.value, s) for p, s in zip(model.parameters(), start))


def test_default_hyperparameters_are_torchs():
    params = [ad.Variable(np.ones(2))]
    tparams = [torch.nn.Parameter(torch.ones(2))]
    for name in ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW"):
        ours = getattr(nn, name)(params)
        theirs = getattr(torch.optim, name)(tparams).defaults
        for key in ours.hyperparameters:
            assert getattr(ours, key) == theirs[key], (name, key)


def test_step_checks_every_gradient_before_changing_anything_and_skips_none():
    a, b = ad.Variable(np.ones(2)), ad.Variable(np.ones(3))
    opt = nn.SGD([a, b], lr=0.5)
    with pytest.raises(ValueError, match="gradient 1 has shape"):
        opt.step([np.ones(2), np.ones(2)])
    assert a.value.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="2 parameters"):
        opt.step([np.ones(2)])
    opt.step([None, np.ones(3)])
    assert a.value.tolist() == [1.0, 1.0] and b.value.tolist() == [0.5] * 3
    with pytest.raises(TypeError):
        nn.Adam([np.ones(2)])
    with pytest.raises(ValueError):
        nn.Adam([a, a])
    with pytest.raises(ValueError):
        nn.SGD([a], nesterov=True)


def test_step_updates_in_place_and_reads_a_gradient_that_aliases_the_parameter():
    w = ad.Variable(np.array([1.0, -2.0]))
    array = w.value
    opt = nn.Adam([w], lr=0.1)
    opt.step([w.value])  # the gradient is the parameter's own array
    assert w.value is array
    np.testing.assert_allclose(w.value, [0.9, -1.9])  # Adam's first step: lr * sign(g)


def test_state_dict_resumes_exactly():
    def run(opt_name, resume):
        model, grads, _, _ = problem(seed=3)
        opt = getattr(nn, opt_name)(model.parameters(), lr=0.05)
        for _ in range(3):
            opt.step(grads()[1:])
        if resume:  # a fresh optimiser (and a copy of the parameters) from saved state
            state, params = opt.state_dict(), model.state_dict()
            model.load_state_dict({k: v + 1.0 for k, v in params.items()})  # disturb
            opt = getattr(nn, opt_name)(model.parameters(), lr=0.9)
            opt.load_state_dict(state)
            model.load_state_dict(params)
            assert opt.lr == 0.05
        for _ in range(3):
            opt.step(grads()[1:])
        return [p.value for p in model.parameters()]

    for name in ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW"):
        for a, b in zip(run(name, False), run(name, True)):
            assert np.array_equal(a, b), name


def test_loading_a_wrong_state_raises_and_changes_nothing():
    a = ad.Variable(np.ones(2))
    adam = nn.Adam([a], lr=0.1)
    adam.step([np.ones(2)])
    state = adam.state_dict()
    assert set(state) == {"type", "hyper.lr", "hyper.betas", "hyper.eps", "hyper.weight_decay",
                          "hyper.amsgrad", "state.0.step", "state.0.exp_avg",
                          "state.0.exp_avg_sq"}
    with pytest.raises(ValueError, match="not of SGD"):
        nn.SGD([a]).load_state_dict(state)
    other = nn.Adam([ad.Variable(np.ones(3))], lr=0.2)
    with pytest.raises(ValueError, match="expected"):
        other.load_state_dict(state)
    assert other.lr == 0.2 and other.state == [{}]
    bad = dict(state)
    bad["state.5.exp_avg"] = np.ones(2)
    with pytest.raises(ValueError, match="only 1 parameters"):
        adam.load_state_dict(bad)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, np.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5), None]
    originals = [g.copy() for g in grads[:2]]
    clipped, total = nn.clip_grad_norm(grads, max_norm, norm_type)
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads[:2]]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    expected_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    assert total == pytest.approx(float(expected_total), rel=1e-12)
    for got, p in zip(clipped, params):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-12, atol=0)
    assert clipped[2] is None
    for g, o in zip(grads, originals):
        assert np.array_equal(g, o)  # inputs untouched


def test_clip_grad_value_equals_torch():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((3, 4)) * 3, None]
    clipped = nn.clip_grad_value(grads, 1.5)
    p = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))
    p.grad = torch.tensor(grads[0])
    torch.nn.utils.clip_grad_value_([p], 1.5)
    assert np.array_equal(clipped[0], p.grad.numpy()) and clipped[1] is None
    assert np.abs(grads[0]).max() > 1.5  # input untouched
    with pytest.raises(ValueError):
        nn.clip_grad_value(grads, -1)
