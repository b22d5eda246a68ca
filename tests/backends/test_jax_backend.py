"""The jax backend as a user meets it: updates kept on the device, new input shapes,
float32 and float64 without touching JAX's configuration, devices and data parallelism,
user ops with and without a lowering."""
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn


def mlp_problem(batch=16, seed=0):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(5, 16, rng=rng), nn.Tanh(), nn.Linear(16, 3, rng=rng))
    xb = ad.Variable(np.zeros((batch, 5)), name="xb")
    yb = ad.Variable(np.zeros(batch), name="yb")
    loss = nn.softmax_cross_entropy(model(xb), yb)
    return model, xb, yb, loss, rng


def test_a_training_step_with_updates_on_the_device_matches_numpy():
    results = {}
    for backend in ("numpy", "jax"):
        model, xb, yb, loss, rng = mlp_problem()
        params = model.parameters()
        grads = ad.grad(loss, params)
        step = ad.function(loss, inputs=[xb, yb], backend=backend,
                           updates={p: p - 0.5 * g for p, g in zip(params, grads)})
        losses = [float(step(rng.standard_normal((16, 5)), rng.integers(0, 3, 16)))
                  for _ in range(20)]
        results[backend] = (losses, [p.value.copy() for p in params])
        if backend == "jax":
            assert all(p._holder is step for p in params)  # kept on the device
    np.testing.assert_allclose(results["jax"][0], results["numpy"][0], rtol=1e-12)
    for a, b in zip(results["jax"][1], results["numpy"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_reading_and_setting_a_device_held_variable():
    w = ad.Variable(np.array([1.0, 2.0]), name="w")
    step = ad.function(ad.sum(w), backend="jax", updates={w: w * 2})
    step()
    assert np.array_equal(w.value, [2.0, 4.0])        # read back from the device
    assert np.array_equal(ad.function(w * 1)(), [2.0, 4.0])  # other functions see it too
    w.value = [10.0, 10.0]                            # sent at the next call
    assert step() == 20.0 and np.array_equal(w.value, [20.0, 20.0])


def test_parameters_are_read_at_each_call_without_recompiling():
    w = ad.Variable(np.array([1.0, 2.0]), name="w")
    x = ad.Variable(np.zeros(2), name="x")
    f = ad.function(ad.sum(w * x), inputs=[x], backend="jax")
    program = f._program
    assert f(np.ones(2)) == 3.0
    w.value = [5.0, 5.0]
    assert f(np.ones(2)) == 10.0 and f._program is program


def test_a_new_input_shape_compiles_once_more_and_is_kept():
    model, xb, yb, loss, rng = mlp_problem(batch=16)
    f = ad.function([loss, *ad.grad(loss, model.parameters())], inputs=[xb, yb],
                    backend="jax")
    for batch in (16, 7, 7, 16):
        x, y = rng.standard_normal((batch, 5)), rng.integers(0, 3, batch).astype(float)
        value, *grads = f(x, y)
        expected = ad.function([loss, *ad.grad(loss, model.parameters())],
                               inputs=[xb, yb])(x, y)
        np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    assert list(f._shapes) == [((7, 5), (7,))]  # one more program, reused


def test_float32_and_float64_without_changing_jax_configuration():
    assert not jax.config.jax_enable_x64
    for dtype in (np.float32, np.float64):
        x = ad.Variable(np.linspace(-1, 1, 4).astype(dtype), name="x")
        g, = ad.grad(ad.sum(ad.tanh(x) * 2.5), [x])
        value = ad.function(g, backend="jax")()
        assert value.dtype == dtype
        np.testing.assert_allclose(value, g(), rtol=1e-6 if dtype == np.float32 else 1e-14)
    assert not jax.config.jax_enable_x64  # the context never leaks


def test_results_as_device_arrays_when_asked():
    x = ad.Variable(np.ones(3), name="x")
    out = ad.function(x * 2, backend="jax", device_arrays=True)()
    assert isinstance(out, jax.Array) and np.array_equal(np.asarray(out), [2.0, 2.0, 2.0])


def test_checkpointed_blocks_lower_and_differentiate():
    w = ad.Variable(np.linspace(-1, 1, 9).reshape(3, 3), name="w")
    block = ad.checkpoint(lambda h: ad.tanh(h @ w))
    h = ad.Variable(np.ones((2, 3)), name="h")
    for _ in range(3):
        h = block(h)
    loss = ad.sum(h * h)
    outputs = [loss, *ad.grad(loss, [w])]
    for got, want in zip(ad.function(outputs, backend="jax")(), ad.function(outputs)()):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_a_user_op_without_a_lowering_is_named_and_with_one_it_runs():
    class Cube(ad.Node):
        elementwise = True

        def forward(self, x):
            return x ** 3

        def vjp(self, g):
            return [g * 3 * self.children[0] ** 2]

    class LoweredCube(Cube):
        def lower_jax(self, lowering, x):
            return x ** 3

    x = ad.Variable(np.array([1.0, 2.0]), name="x")
    with pytest.raises(NotImplementedError, match="Cube has no jax lowering.*lower_jax"):
        ad.function(Cube(x), backend="jax")
    y = LoweredCube(x)
    got = ad.function([y, *ad.grad(y, [x])], backend="jax")()
    np.testing.assert_allclose(got[0], [1.0, 8.0])
    np.testing.assert_allclose(got[1], [3.0, 12.0])


def test_choosing_a_device():
    x = ad.Variable(np.ones(2), name="x")
    assert ad.function(x * 3, backend="jax", device="cpu")()[0] == 3.0
    assert ad.function(x * 3, backend="jax", device=jax.devices()[0])()[0] == 3.0
    with pytest.raises(ValueError, match="no device 'cpu:7'"):
        ad.function(x * 3, backend="jax", device="cpu:7")


def test_import_autodiff_imports_no_backend():
    code = "import sys, autodiff; print('jax' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


DATA_PARALLEL = textwrap.dedent("""
    import numpy as np, jax
    import autodiff as ad
    from autodiff import nn
    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 32, rng=rng), nn.Tanh(), nn.Linear(32, 4, rng=rng))
    xb, yb = ad.Variable(np.zeros((64, 6)), name="xb"), ad.Variable(np.zeros(64), name="yb")
    loss = nn.softmax_cross_entropy(model(xb), yb)
    outputs = [loss, *ad.grad(loss, model.parameters())]
    x, y = rng.standard_normal((64, 6)), rng.integers(0, 4, 64).astype(float)
    one = ad.function(outputs, inputs=[xb, yb], backend="jax", device=jax.devices()[1])
    both = ad.function(outputs, inputs=[xb, yb], backend="jax", devices=jax.devices(),
                       shard={xb: 0, yb: 0})
    with jax.enable_x64(True):  # as the backend places inputs: split along the batch
        placed = jax.device_put(x, both._input_shardings[0])
    assert [s.data.shape for s in placed.addressable_shards] == [(32, 6), (32, 6)]
    worst = 0.0
    for rows in (64, 16):  # and the smaller last batch, sharded the same way
        for a, b in zip(one(x[:rows], y[:rows]), both(x[:rows], y[:rows])):
            worst = max(worst, float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(a)))))
    print("worst", worst)
""")


def test_data_parallel_on_two_host_devices_gives_one_devices_values():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", DATA_PARALLEL], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    worst = float(out.stdout.split()[-1])
    assert worst <= 1e-12, worst


def test_evaluate_on_jax_twice_sees_new_values():
    w = ad.Variable(np.array([1.0, 2.0]), name="w")
    x = ad.Variable(np.zeros(2), name="x")
    y = ad.sum(ad.sin(w * x))
    nodes = [y, *ad.grad(y, [w])]
    for value in ([0.5, 1.0], [2.0, -1.0]):  # the second call reuses the first's program
        w.value = value
        got = ad.evaluate(nodes, {x: np.ones(2)}, backend="jax")
        want = ad.evaluate(nodes, {x: np.ones(2)})
        np.testing.assert_allclose(got[0], want[0], rtol=1e-14)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-14)


def test_inputs_may_be_jax_arrays_of_any_dtype():
    x = ad.Variable(np.zeros(3), name="x")
    f = ad.function(x * 2, inputs=[x], backend="jax")
    with jax.enable_x64(True):
        on_device = jax.device_put(np.arange(3.0))
        other_dtype = jax.device_put(np.arange(3, dtype=np.int32))
    assert np.array_equal(f(on_device), [0.0, 2.0, 4.0])
    assert np.array_equal(f(other_dtype), [0.0, 2.0, 4.0])  # converted to the input's dtype
    assert np.array_equal(f(np.arange(3.0) + 1), [2.0, 4.0, 6.0])
