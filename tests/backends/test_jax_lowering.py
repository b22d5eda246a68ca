"""The jax backend's forms of contractions and sums (autodiff/backends/jax.py,
`Lowering.dot_general` and `Lowering.sum`, used by Einsum and the reductions): every
operand layout and every kind of summed axes gives the numpy backend's values to 1e-12."""
import numpy as np
import pytest

import autodiff as ad


def assert_close(got, want, tol=1e-12):
    """Normwise: max |got - want| <= tol * max |want| (sums and products reorder terms)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    scale = max(float(np.max(np.abs(want), initial=0.0)), np.finfo(want.dtype).tiny)
    assert np.max(np.abs(got - want), initial=0.0) <= tol * scale


def both_backends(outputs, variables):
    """(jax values, numpy values) of `outputs` for the current values of `variables`."""
    values = [v.value for v in variables]
    want = ad.function(outputs, inputs=variables)(*values)
    got = ad.function(outputs, inputs=variables, backend="jax")(*values)
    return got, want


SHAPES = {"i": 37, "j": 23, "k": 19, "l": 11, "b": 3}

CONTRACTIONS = [
    "ij,jk->ik",      # a @ b
    "ji,jk->ik",      # a.T @ b: the left operand contracts on its leading axis
    "ij,kj->ik",      # a @ b.T
    "ji,kj->ik",      # a.T @ b.T
    "ij,ik->jk",      # a weight gradient x.T @ g (the product is computed swapped)
    "ij,ik->kj",
    "bji,bjk->bik",   # batched, transposed left operand
    "bij,bkj->bki",   # batched, output permuted
    "jb,bjk->bk",     # batch axis not leading
    "ij,jk,kl->il",   # three operands, numpy's contraction order
    "ji,jk,lk->li",
    "ij,jk->k",       # a label summed in one operand only
    "i,j->ij",        # outer product
    "ij,j->i",
    "j,jk->k",
]


@pytest.mark.parametrize("subscripts", CONTRACTIONS)
def test_contractions_in_every_layout_and_their_gradients(subscripts):
    rng = np.random.default_rng(0)
    inputs = subscripts.split("->")[0].split(",")
    variables = [ad.Variable(rng.standard_normal([SHAPES[c] for c in s]), name=f"x{n}")
                 for n, s in enumerate(inputs)]
    y = ad.einsum(subscripts, *variables)
    loss = ad.sum(y * rng.standard_normal(y.shape))
    got, want = both_backends([y, *ad.grad(loss, variables)], variables)
    for g, w in zip(got, want):
        assert_close(g, w)


def test_batched_products_of_large_and_small_transposed_matrices():
    # left matrices of 130x130 are laid out again first, 20x20 ones are not
    rng = np.random.default_rng(3)
    for n in (130, 20):
        a = ad.Variable(rng.standard_normal((2, n, n + 1)), name="a")
        b = ad.Variable(rng.standard_normal((2, n, 7)), name="b")
        got, want = both_backends([ad.einsum("bji,bjk->bik", a, b)], [a, b])
        assert_close(got[0], want[0])


def test_a_contraction_over_an_axis_of_size_one_is_an_outer_product():
    rng = np.random.default_rng(1)
    h = ad.Variable(rng.standard_normal((1, 30)), name="h")
    g = ad.Variable(rng.standard_normal((1, 20)), name="g")
    got, want = both_backends([ad.einsum("ij,ik->jk", h, g)], [h, g])
    assert_close(got[0], want[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,axes", [
    ((3000, 7), (0,)),            # leading axis: ones @ x
    ((25, 32, 100), (0, 1)),      # leading axes
    ((40, 257), (1,)),            # trailing axis: x @ ones
    ((6, 5, 300), (1, 2)),        # trailing axes
    ((6, 50, 30), (1,)),          # a middle axis: XLA's own reduction
    ((20, 30, 40), (0, 1, 2)),    # everything, through rows of partial sums
    ((10007,), (0,)),             # a long vector: rows of 64 and a tail of 23
    ((100,), (0,)),               # a short vector
])
def test_sums_over_leading_trailing_and_other_axes(dtype, shape, axes):
    rng = np.random.default_rng(2)
    x = ad.Variable(rng.standard_normal(shape).astype(dtype) + 0.5, name="x")
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    outputs = [ad.ReduceSumKeepDims(x, axes), ad.sum(x, axis=axes), ad.mean(x, axis=axes),
               ad.ReduceSumToShape(x, kept)]
    if axes == tuple(range(len(axes))):  # leading axes summed away
        outputs.append(ad.ReduceSumToShape(x, shape[len(axes):]))
    got, want = both_backends(outputs, [x])
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for g, w in zip(got, want):
        assert_close(g, w, tol)


def test_integer_and_empty_sums_keep_numpy_dtypes():
    k = ad.Constant(np.arange(24, dtype=np.int32).reshape(4, 6))
    b = ad.Constant(np.arange(12).reshape(3, 4) % 3 == 0)
    e = ad.Variable(np.zeros((0, 3)), name="e")
    outputs = [ad.sum(k, axis=0), ad.sum(b, axis=1), ad.sum(e, axis=0), ad.mean(k, axis=0),
               ad.FrobeniusNorm(k)]
    got = ad.function(outputs, inputs=[e], backend="jax")(np.zeros((0, 3)))
    want = ad.function(outputs, inputs=[e])(np.zeros((0, 3)))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w), (g, w)


def test_inf_and_nan_pass_through_sums_as_in_numpy():
    x = ad.Variable(np.array([[1.0, np.inf], [2.0, 3.0], [np.nan, 1.0]] * 200), name="x")
    got, want = both_backends([ad.sum(x, axis=0), ad.sum(x, axis=1)], [x])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
