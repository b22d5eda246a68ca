"""`evaluate` reuses plans by graph structure, in a bounded cache: a graph rebuilt every
step costs no new plan, memory stays flat over many steps, and any change of op, shape,
dtype or constant value gets the right answer."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.runtime import evaluation as evaluate_module


def rebuilt_loss(w, x_value, scale=2.0, op=ad.tanh):
    x = ad.Variable(x_value, name="x")
    return ad.sum(op(x @ w) * scale)


def test_ten_thousand_rebuilt_graphs_keep_memory_flat():
    w = ad.Variable(np.ones(2), name="w")  # long-lived, first output

    def step():  # a small graph, so that 10,000 steps under tracemalloc take seconds
        ad.evaluate([w, ad.Variable(np.ones(2), name="x") * w])

    for _ in range(200):  # warm up: caches, interned dtypes, first plans
        step()
    tracemalloc.start()
    for _ in range(2000):
        step()
    after_2000, _ = tracemalloc.get_traced_memory()
    for _ in range(8000):
        step()
    after_10000, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after_10000 - after_2000 < 100_000, (after_2000, after_10000)
    assert len(evaluate_module._plans) <= evaluate_module.PLAN_CACHE_SIZE


def test_a_rebuilt_graph_reuses_its_plan():
    evaluate_module.clear_plan_cache()
    w = ad.Variable(np.ones((3, 2)), name="w")
    for k in range(5):
        x_value = np.full((4, 3), float(k))
        loss = rebuilt_loss(w, x_value)
        assert np.isclose(loss(), 2 * np.tanh(x_value @ w.value).sum())
    assert len(evaluate_module._plans) == 1


@pytest.mark.parametrize("change", ["op", "shape", "dtype", "constant", "parameter"])
def test_every_change_between_steps_gets_the_right_answer(change):
    w = ad.Variable(np.linspace(-1, 1, 6).reshape(3, 2), name="w")
    base = np.linspace(0, 1, 12).reshape(4, 3)
    variants = {
        "op": [dict(op=ad.tanh), dict(op=ad.sin)],
        "shape": [dict(x_value=base), dict(x_value=base[:2])],
        "dtype": [dict(x_value=base), dict(x_value=base.astype(np.float32))],
        "constant": [dict(scale=2.0), dict(scale=3.0)],
        "parameter": [dict(), dict()],
    }[change]
    for step in range(6):
        kwargs = dict(x_value=base, scale=2.0, op=ad.tanh)
        kwargs.update(variants[step % 2])
        if change == "parameter":
            w.value = w.value + 0.5
        loss = rebuilt_loss(w, **kwargs)
        g, = ad.grad(loss, [w])
        xv = kwargs["x_value"]
        fn = {ad.tanh: np.tanh, ad.sin: np.sin}[kwargs["op"]]
        dfn = {ad.tanh: lambda v: 1 - np.tanh(v) ** 2, ad.sin: np.cos}[kwargs["op"]]
        h = xv @ w.value.astype(xv.dtype)
        value, grad = ad.evaluate([loss, g])
        np.testing.assert_allclose(value, kwargs["scale"] * fn(h).sum(), rtol=1e-5)
        np.testing.assert_allclose(grad, xv.T @ (kwargs["scale"] * dfn(h)), rtol=1e-5)


def test_a_constant_exponent_changing_between_rebuilt_steps_gets_its_power():
    """Unrewritten graphs of x**k share one plan whatever k is (the exponent is a value);
    the kernel each step runs must still compute its own k (k = 2, 0.5, -1 have kernels of
    their own; others run numpy's power)."""
    evaluate_module.clear_plan_cache()
    x_value = np.linspace(0.5, 2.0, 4)
    for k in (3.0, 2.0, 3.0, 0.5, 1.5, -1.0, 2.0, 4.0):
        x = ad.Variable(x_value, name="x")
        y = ad.sum(x ** k)
        (g,) = ad.grad(y, [x])
        value, slope = ad.evaluate([y, g])
        np.testing.assert_allclose(value, np.sum(x_value ** k), rtol=1e-12)
        np.testing.assert_allclose(slope, k * x_value ** (k - 1), rtol=1e-12)


def test_higher_order_graphs_key_on_constant_values():
    # rewriting folds constants, so their values are part of the plan's key
    x = ad.Variable(np.array([0.3, 0.7]), name="x")
    for scale in (1.0, 2.0, 5.0):
        y = ad.sin(x) * scale
        d2 = ad.grad(ad.grad(y, [x])[0], [x])[0]
        np.testing.assert_allclose(d2(), -scale * np.sin(x.value))


def test_the_same_nodes_evaluated_again_see_new_values_and_feeds():
    """The shortcut for the very same nodes (no walk, no signature) reads the current
    Variable values and this call's feed, on the graph it was planned on and on a graph
    whose plan was borrowed from an earlier one of the same structure."""
    evaluate_module.clear_plan_cache()
    w = ad.Variable(np.ones((3, 2)), name="w")
    first = rebuilt_loss(w, np.ones((4, 3)))
    second = rebuilt_loss(w, np.ones((4, 3)))           # the same structure: plan reused
    x_of_second = next(n for n in ad.topo_sort(second) if getattr(n, "name", "") == "x")
    for k in range(4):
        w.value = np.full((3, 2), 0.1 * k)
        for loss in (first, second):
            assert np.isclose(loss(), 2 * np.tanh(np.ones((4, 3)) @ w.value).sum())
        fed = np.full((4, 3), float(k))
        assert np.isclose(ad.evaluate(second, {x_of_second: fed}),
                          2 * np.tanh(fed @ w.value).sum())
    for _ in range(3 * evaluate_module.PLAN_CACHE_SIZE):
        rebuilt_loss(w, np.ones((4, 3)))()
    assert len(evaluate_module._by_nodes) <= evaluate_module.RECENT_GRAPHS


def test_a_rebuilt_training_step_keeps_only_the_last_few_graphs_alive():
    """A graph rebuilt every step is never evaluated again: the caches let the steps'
    graphs (and their input batches) go, with the cyclic collector off, so no reference
    cycle can hide behind it."""
    w = ad.Variable(np.ones((3, 2)), name="w")
    losses = []
    gc.disable()
    try:
        for step in range(40):
            loss = rebuilt_loss(w, np.full((4, 3), float(step)))
            value, grad = ad.evaluate([loss, *ad.grad(loss, [w])])
            w.value = w.value - 0.01 * grad
            losses.append(weakref.ref(loss))
            del loss
        alive = [k for k, ref in enumerate(losses) if ref() is not None]
    finally:
        gc.enable()
    assert len(alive) <= 4, f"the graphs of steps {alive} are still alive"
    assert alive and alive[-1] == 39  # the last one stays, for evaluating it again


def test_a_rebuilt_graph_with_a_loop_reuses_its_plan_and_sees_a_changed_body():
    w = ad.Variable(np.eye(3) * 0.5, name="w")
    rng = np.random.default_rng(0)

    def step(x_value, scale):
        xs = ad.Variable(x_value, name="xs")
        last, ys = ad.scan(lambda h, x: (ad.tanh(h @ w + x * scale), ad.sum(h)),
                           np.zeros(3), xs)
        loss = ad.sum(ys) + ad.sum(last)
        return [loss, *ad.grad(loss, [w])]

    evaluate_module.clear_plan_cache()
    for k in range(6):
        x_value, scale = rng.standard_normal((5, 3)), (2.0 if k < 4 else 3.0)
        got = ad.evaluate(step(x_value, scale))
        evaluate_module.clear_plan_cache()  # a fresh plan for the reference
        want = ad.evaluate(step(x_value, scale), simplify=False)
        for g, v in zip(got, want):
            np.testing.assert_allclose(g, v, rtol=1e-12, atol=1e-14)
        if k in (2, 3):
            evaluate_module.clear_plan_cache()
            for _ in range(3):
                ad.evaluate(step(x_value, scale))
            assert len(evaluate_module._plans) == 1  # the rebuilt loop found its plan


def test_plans_of_large_graphs_are_dropped_beyond_the_node_budget(monkeypatch):
    """Each plan keeps the graph it was made on alive (a rewritten higher-order derivative
    keeps the whole derivative graph it was given): beyond PLAN_CACHE_NODES nodes, the
    least recently used plans go, and their graphs with them; the newest always stays."""
    evaluate_module.clear_plan_cache()
    monkeypatch.setattr(evaluate_module, "PLAN_CACHE_NODES", 2_000)
    x = ad.Variable(np.linspace(-1, 1, 5), name="x")
    outputs = []
    for depth in (300, 301, 302, 2_500):  # chains of distinct structure: 601, 603, ... nodes
        y = x
        for _ in range(depth):
            y = ad.sin(y) * 0.9
        np.testing.assert_allclose(ad.evaluate(y), chain_value(x.value, depth))
        outputs.append(weakref.ref(y))
        kept = sum(evaluate_module._plan_nodes.values())
        assert kept <= 2_000 or len(evaluate_module._plans) == 1
    del y
    evaluate_module._by_nodes.clear()  # the "same nodes again" entries hold graphs too
    gc.collect()
    assert [ref() is None for ref in outputs] == [True, True, True, False]
    assert len(evaluate_module._plans) == 1  # the 5,001-node graph, alone over budget


def chain_value(x, depth):
    for _ in range(depth):
        x = np.sin(x) * 0.9
    return x
