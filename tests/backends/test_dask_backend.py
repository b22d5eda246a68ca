"""The dask backend: random programs over a batch axis cut into chunks agree with the
numpy backend in values, first and second derivatives, on threads and on a local cluster
of two worker processes with a memory limit; a worker killed in the middle of a
computation changes nothing; ops that cannot run chunked say so when the function is
made."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad

import distributed  # noqa: F401  (the dask extra; `make test` installs it)

N, F = 240, 4
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

ROW_OPS = [  # (N, F) -> (N, F): elementwise, with parameters, over features
    lambda h, w, b: ad.tanh(h * w + b),
    lambda h, w, b: ad.sigmoid(h) * w,
    lambda h, w, b: ad.softplus(h - b),
    lambda h, w, b: ad.softmax(h * w, axis=1),
    lambda h, w, b: h - ad.logsumexp(h, axis=1, keepdims=True),
    lambda h, w, b: ad.where(h > 0, h * w, ad.exp(h) - 1),
    lambda h, w, b: ad.einsum("nf,fg->ng", h, ad.reshape(ad.concatenate([w, b]), (2, F))[:1].T
                              * ad.ones_like(ad.Constant(np.ones((F, F))))),
]
REDUCTIONS = [  # (N, F) -> scalar, over the chunked batch axis
    lambda h, y: ad.sum(ad.SigmoidCEWithLogits(y[:, None] * ad.ones_like(h), h)),
    lambda h, y: ad.mean(h * h) + ad.sum(h[:, 0] * y),
    lambda h, y: ad.sum(ad.SoftmaxCEWithLogits(ad.softmax(h * 0.5), h)),
    lambda h, y: ad.FrobeniusNorm(h) + ad.max(h) * 0.1,
]


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, F)), (rng.random(N) < 0.5).astype(float)


def program(ops, reduction):
    x = ad.Variable(np.zeros((N, F)), name="x")
    y = ad.Variable(np.zeros(N), name="y")
    w = ad.Variable(np.linspace(-0.5, 0.7, F), name="w")
    b = ad.Variable(np.linspace(0.2, -0.3, F), name="b")
    h = x
    for k in ops:
        h = ROW_OPS[k](h, w, b)
    loss = REDUCTIONS[reduction](h, y)
    gw, gb = ad.grad(loss, [w, b])
    outputs = [loss, gw, gb, ad.hessian(loss, w), ad.hvp(loss, b, np.ones(F))]
    return outputs, [x, y]


def agree(got, want):
    for g, e in zip(got, want):
        scale = max(1.0, float(np.max(np.abs(e))))
        assert np.max(np.abs(np.asarray(g) - e)) <= 1e-12 * scale


@SETTINGS
@given(st.lists(st.integers(0, len(ROW_OPS) - 1), max_size=3),
       st.integers(0, len(REDUCTIONS) - 1), st.sampled_from([70, 120, 240]))
def test_random_programs_on_threads_agree_with_numpy(ops, reduction, rows):
    outputs, inputs = program(ops, reduction)
    x, y = data()
    want = ad.function(outputs, inputs=inputs)(x, y)
    got = ad.function(outputs, inputs=inputs, backend="dask", chunks=rows)(x, y)
    agree(got, want)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes with a memory limit, as the example's cluster."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit="400MiB", dashboard_address=":0") as local:
        with Client(local) as client:
            yield client


@pytest.mark.parametrize("ops, reduction", [([0, 3], 0), ([4, 1], 2), ([5], 3), ([2, 6], 1)])
def test_random_programs_on_a_cluster_agree_with_numpy(cluster, ops, reduction):
    outputs, inputs = program(ops, reduction)
    x, y = data(1)
    want = ad.function(outputs, inputs=inputs)(x, y)
    got = ad.function(outputs, inputs=inputs, backend="dask", chunks=50)(x, y)
    agree(got, want)


class DiesOnce(ad.Node):
    """Identity, except that the first task to run it in a worker kills that worker's
    process (the test's own process runs it too, to learn its dtype, and must live)."""

    elementwise = True

    def __init__(self, x, marker, *, name=None):
        super().__init__(x, name=name, marker=marker, test_process=os.getpid())

    def forward(self, x):
        if os.getpid() == self.test_process:
            return x.copy()
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))  # only the first task
        except FileExistsError:
            return x.copy()
        os._exit(1)

    def vjp(self, g):
        return [g]


def test_a_worker_killed_mid_computation_changes_nothing(cluster, tmp_path):
    outputs, inputs = program([0, 1], 0)
    x, y = data(2)
    undisturbed = ad.function(outputs, inputs=inputs, backend="dask", chunks=60)(x, y)
    dying = DiesOnce(inputs[0], str(tmp_path / "killed"))
    loss = ad.sum(ad.tanh(dying) * inputs[1][:, None])
    f = ad.function([loss, *outputs], inputs=inputs, backend="dask", chunks=60)
    value, *rest = f(x, y)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert np.isclose(value, np.sum(np.tanh(x) * y[:, None]), rtol=1e-12)
    for a, b in zip(rest, undisturbed):
        np.testing.assert_array_equal(a, b)  # dask ran the lost tasks again


def test_dask_arrays_as_inputs_and_lazy_results():
    import dask.array as da
    outputs, inputs = program([0], 1)
    x, y = data(3)
    lazy = ad.function(outputs, inputs=inputs, backend="dask", lazy=True)
    results = lazy(da.from_array(x, chunks=(80, F)), da.from_array(y, chunks=80))
    assert all(isinstance(r, da.Array) for r in results)
    agree([r.compute() for r in results], ad.function(outputs, inputs=inputs)(x, y))


def test_an_op_that_cannot_run_chunked_is_named_when_the_function_is_made():
    x = ad.Variable(np.zeros((N, F)), name="x")
    with pytest.raises(NotImplementedError, match="ScatterAdd .*chunked"):
        ad.function(ad.sum(ad.ScatterAdd(x, np.arange(N) % 3, (3, F))), inputs=[x],
                    backend="dask", chunks=60)

    class Opaque(ad.Node):
        def infer_shape(self, shape):
            return shape

        def forward(self, v):
            return v

    with pytest.raises(NotImplementedError, match="Opaque has no dask lowering"):
        ad.function(Opaque(x), inputs=[x], backend="dask", chunks=60)


def test_evaluate_takes_dask_arrays_and_keeps_their_chunks():
    import dask.array as da
    outputs, inputs = program([1], 0)
    for seed in (4, 5):  # the second call reuses the function made by the first
        x, y = data(seed)
        got = ad.evaluate(outputs, {inputs[0]: da.from_array(x, chunks=(60, F)),
                                    inputs[1]: da.from_array(y, chunks=60)}, backend="dask")
        agree(got, ad.evaluate(outputs, dict(zip(inputs, (x, y)))))


def test_dasks_own_refusals_name_the_op():
    x = ad.Variable(np.ones((6, 2)), name="x")
    with pytest.raises(NotImplementedError, match="Reshape.*cannot run on operands chunked"):
        ad.function(ad.sum(ad.reshape(x, (4, 3))), inputs=[x], backend="dask", chunks=3)


@pytest.mark.parametrize("chunks", [2, "auto", ((2, 4), (3,)), {0: 2, 1: 1}])
def test_numpy_inputs_take_any_of_dasks_chunk_forms(chunks):
    x = ad.Variable(np.zeros((6, 3)), name="x")
    value = np.arange(18.0).reshape(6, 3)
    for option in (chunks, {x: chunks}):
        f = ad.function([ad.sum(ad.sin(x), axis=0), x * 2], inputs=[x], backend="dask",
                        chunks=option, lazy=True)
        total, doubled = f(value)
        np.testing.assert_allclose(total.compute(), np.sin(value).sum(0), rtol=1e-14)
        if isinstance(chunks, tuple):
            assert doubled.chunks == chunks


@pytest.mark.parametrize("build, chunked", [
    (lambda x: ad.prod(x[:, :1], axis=1), True),                  # its gradient pads nothing
    (lambda x: ad.sin(x)[np.array([0, 1, 5]), np.array([1, 0, 1])], True),  # two index arrays
    (lambda x: ad.sin(x)[np.array([[0, 1], [2, 5]])], False),     # a 2-d index array
], ids=["prod over a length-1 axis", "two index arrays", "2-d index array"])
def test_indexing_and_products_lower_with_their_gradients(build, chunked):
    x = ad.Variable(np.arange(12.0).reshape(6, 2) / 7, name="x")
    y = ad.sum(build(x) ** 2)
    outputs = [y, *ad.grad(y, [x])]
    want = ad.evaluate(outputs)
    agree(ad.function(outputs, inputs=[x], backend="dask")(x.value), want)
    if chunked:
        agree(ad.function(outputs, inputs=[x], backend="dask", chunks=3)(x.value), want)
    else:  # the gradient scatters chunked values by index: dask has no add.at, and says so
        with pytest.raises(NotImplementedError, match="ScatterAdd"):
            ad.function(outputs, inputs=[x], backend="dask", chunks=3)
