"""Optimisers as update graphs: ``ad.function(..., updates=opt.updates(grads))`` takes the
same steps as ``opt.step(grad values)``, on the numpy and the jax backend, and the state
saves and loads as before."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn

OPTIMIZERS = [
    lambda p: nn.SGD(p, lr=0.1),
    lambda p: nn.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda p: nn.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: nn.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01),
    lambda p: nn.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    lambda p: nn.Adam(p, lr=0.01, weight_decay=0.01),
    lambda p: nn.Adam(p, lr=0.01, amsgrad=True),
    lambda p: nn.AdamW(p, lr=0.01),
]


def problem(seed=0):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 5, rng=rng), nn.Tanh(), nn.Linear(5, 2, rng=rng))
    xb, yb = ad.Variable(np.zeros((6, 3)), name="xb"), ad.Variable(np.zeros((6, 2)), name="yb")
    loss = nn.mse_loss(model(xb), yb)
    batches = [(rng.standard_normal((6, 3)), rng.standard_normal((6, 2))) for _ in range(5)]
    return model, xb, yb, loss, batches


@pytest.mark.parametrize("make", OPTIMIZERS, ids=range(len(OPTIMIZERS)))
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_update_graph_takes_the_steps_of_step(make, backend):
    model, xb, yb, loss, batches = problem()
    params = model.parameters()
    opt = make(params)
    step = ad.function(loss, inputs=[xb, yb], backend=backend,
                       updates=opt.updates(ad.grad(loss, params)))
    reference, rxb, ryb, rloss, _ = problem()
    rparams = reference.parameters()
    ropt = make(rparams)
    grads = ad.function([rloss, *ad.grad(rloss, rparams)], inputs=[rxb, ryb])
    for x, y in batches:
        value = step(x, y)
        rvalue, *rgrads = grads(x, y)
        ropt.step(rgrads)
        assert np.isclose(value, rvalue, rtol=1e-12)
    for a, b in zip(params, rparams):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-11, atol=1e-13)
    with pytest.raises(RuntimeError, match="updated by a compiled function"):
        opt.step([np.zeros(p.shape) for p in params])
    # the state of the graph path saves like the other's
    saved, rsaved = opt.state_dict(), ropt.state_dict()
    assert set(rsaved) <= set(saved)  # the graph path counts steps for every optimiser
    for key in rsaved:
        if key.startswith("state."):
            np.testing.assert_allclose(saved[key], rsaved[key], rtol=1e-11, atol=1e-13)


def test_loading_state_into_an_update_graph_continues_training(tmp_path):
    model, xb, yb, loss, batches = problem()
    opt = nn.Adam(model.parameters(), lr=0.01)
    grads = ad.grad(loss, model.parameters())
    step = ad.function(loss, inputs=[xb, yb], updates=opt.updates(grads))
    for x, y in batches[:3]:
        step(x, y)
    path = tmp_path / "m.npz"
    model.save(path, optimizer=opt)
    after_three = [step(x, y) for x, y in batches[3:]]
    model.load(path, opt)  # back to the state after three steps
    again = [step(x, y) for x, y in batches[3:]]
    np.testing.assert_allclose(again, after_three, rtol=1e-12)
