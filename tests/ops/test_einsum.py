"""Tests of `einsum` and the contractions built on it.

In the spirit of MyGrad's tests/linalg/test_einsum.py:

* forward values are compared with numpy (np.einsum, np.matmul, np.dot, np.tensordot,
  np.outer, np.trace, np.diagonal, ...);
* first derivatives are compared with an independent reference: elementwise central
  finite differences computed in numpy on the numpy reference function, with a random
  output cotangent (``previous_grad``) so that the check is not just the gradient of a sum;
* second derivatives are checked with ``ad.check_grad(order=2)`` on nonlinear functions of
  the contraction;
* malformed subscripts raise ValueError when the node is built, naming the operands.
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad

HYP = settings(deadline=None, max_examples=30, derandomize=True, database=None)

# --- helpers -------------------------------------------------------------------------


def _rng(seed=0):
    return np.random.default_rng(seed)


def make_vars(*shapes, seed=0, names=None):
    """Variables with random float64 values of the given shapes, named a, b, c, ..."""
    rng = _rng(seed)
    names = names or "abcdefgh"
    return [ad.Variable(rng.standard_normal(s), name=n) for s, n in zip(shapes, names)]


def numeric_vjp(fn, arrays, cotangent, eps=1e-6):
    """Gradients of ``sum(fn(*arrays) * cotangent)`` wrt each array, by elementwise central
    differences, computed with numpy only (independent of autodiff)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(*a.shape):
            old = a[idx]
            a[idx] = old + eps
            plus = np.sum(np.asarray(fn(*arrays)) * cotangent)
            a[idx] = old - eps
            minus = np.sum(np.asarray(fn(*arrays)) * cotangent)
            a[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def assert_matches(y, variables, ref, seed=1, rtol=1e-6, atol=1e-6):
    """Check `y` (a node built from `variables`) against the numpy function `ref`:
    shape at build time, forward value, and gradients with a random previous_grad."""
    values = [v.value for v in variables]
    expected = np.asarray(ref(*values))
    assert y.shape == expected.shape, (y.shape, expected.shape)
    np.testing.assert_allclose(y(), expected, rtol=1e-10, atol=1e-10)
    cot = _rng(seed).standard_normal(expected.shape)
    grads = ad.grad(y, list(variables), previous_grad=cot)
    numeric = numeric_vjp(ref, values, cot)
    for v, g, n in zip(variables, grads, numeric):
        assert g.shape == v.shape, (v.name, g.shape, v.shape)
        np.testing.assert_allclose(g(), n, rtol=rtol, atol=atol, err_msg=f"gradient wrt {v.name}")
    return grads


def assert_einsum(subscripts, *shapes, seed=0):
    """ad.Einsum and ad.einsum on fresh Variables against np.einsum, values and gradients."""
    xs = make_vars(*shapes, seed=seed)
    ref = lambda *arrays: np.einsum(subscripts, *arrays)  # noqa: E731
    assert_matches(ad.Einsum(subscripts, *xs), xs, ref)
    assert_matches(ad.einsum(subscripts, *xs), xs, ref)


def _split(cases):
    """(subscripts, shape, shape, ...) rows as (subscripts, [shapes]) for parametrize."""
    return [(c[0], list(c[1:])) for c in cases]


# --- plain einsum: forward and gradient against numpy --------------------------------

BASIC_CASES = [
    # matrix products and friends
    ("ij,jk->ik", (2, 3), (3, 4)),
    ("ij,jk", (2, 3), (3, 4)),                # implicit output
    ("ij,kj->ik", (2, 3), (4, 3)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 3)),
    ("i,i->", (5,), (5,)),
    ("i,i", (5,), (5,)),                      # implicit: dot product
    ("i,j->ij", (3,), (4,)),                  # outer product
    ("i,j", (3,), (4,)),                      # implicit outer
    ("ij,kl->ijkl", (2, 3), (2, 2)),          # outer of matrices
    ("ij,ij->ij", (3, 4), (3, 4)),            # elementwise
    ("ij,ij->", (3, 4), (3, 4)),
    ("ij,ij", (3, 4), (3, 4)),                # implicit: full contraction
    # labels summed in one operand only
    ("ij,jk->k", (2, 3), (3, 4)),
    ("ij,jk->i", (2, 3), (3, 4)),
    ("ij,k->ik", (2, 3), (4,)),
    ("ijk->", (2, 3, 4)),
    ("ijk->j", (2, 3, 4)),
    ("ijk,k->", (2, 3, 4), (4,)),
    # transposes / permutations
    ("ijk->kji", (2, 3, 4)),
    ("ijk->jki", (2, 3, 4)),
    ("ji", (2, 3)),                           # implicit transpose (sorted output)
    ("bA", (2, 3)),                           # implicit, uppercase sorts first
    ("ij->ji", (1, 4)),
    # repeated labels within one operand
    ("ii->i", (4, 4)),
    ("ii->", (4, 4)),
    ("ii", (4, 4)),                           # implicit trace
    ("iij->j", (3, 3, 2)),
    ("iij->ij", (3, 3, 2)),
    ("iji->j", (3, 2, 3)),
    ("jii->ji", (2, 3, 3)),
    ("iii->i", (3, 3, 3)),
    ("iijj->ij", (2, 2, 3, 3)),
    ("ii,i->i", (3, 3), (3,)),
    ("ii,i->", (3, 3), (3,)),
    ("ii,jj->ij", (3, 3), (2, 2)),
    ("iij,jk->ik", (3, 3, 2), (2, 4)),
    # scalars
    (",ij->ij", (), (2, 3)),
    ("->", ()),
    (",->", (), ()),
    ("i,->i", (3,), ()),
    # size-1 labels
    ("ij,jk->ik", (2, 1), (1, 3)),
    ("ij,jk->ik", (1, 1), (1, 1)),
    # upper-case labels
    ("aB,Bc->ac", (2, 3), (3, 2)),
]


@pytest.mark.parametrize("subscripts, shapes", _split(BASIC_CASES),
                         ids=[c[0] or "<empty>" for c in BASIC_CASES])
def test_einsum_matches_numpy(subscripts, shapes):
    assert_einsum(subscripts, *shapes)


def test_spaces_in_subscripts_are_ignored():
    a, b = make_vars((2, 3), (3, 4))
    y = ad.einsum("ij, jk -> ik", a, b)
    np.testing.assert_allclose(y(), a.value @ b.value)


# --- explicit size-1 broadcasting of labelled axes ----------------------------------

BROADCAST_CASES = [
    ("ij,ij->ij", (3, 1), (3, 4)),
    ("ij,ij->ij", (1, 4), (3, 1)),
    ("ij,ij->", (3, 1), (3, 4)),
    ("ij,ij->i", (1, 4), (3, 4)),
    ("ij,jk->ik", (2, 1), (3, 4)),            # contracted label broadcast
    ("ij,ik->ijk", (1, 2), (3, 4)),
    ("bij,bjk->bik", (1, 2, 3), (4, 3, 2)),   # batch label broadcast
    ("ij,j->i", (3, 4), (1,)),
    ("ij->i", (1, 1)),
]


@pytest.mark.parametrize("subscripts, shapes", _split(BROADCAST_CASES),
                         ids=[f"{c[0]}-{c[1]}-{c[2] if len(c) > 2 else ''}" for c in BROADCAST_CASES])
def test_einsum_broadcasts_size_one_axes(subscripts, shapes):
    assert_einsum(subscripts, *shapes)


# --- ellipsis ------------------------------------------------------------------------

ELLIPSIS_CASES = [
    ("...ij,...jk->...ik", (2, 3, 4), (2, 4, 5)),       # start
    ("...ij,...jk->...ik", (3, 4), (4, 2)),             # empty ellipsis
    ("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),    # broadcast, different ranks
    ("...ij,...jk->...ik", (1, 3, 4), (2, 4, 2)),       # broadcast size-1 ellipsis dim
    ("...ij,...jk", (2, 3, 4), (2, 4, 5)),              # implicit output keeps ellipsis
    ("i...j,j...->i...", (2, 3, 4, 5), (5, 3, 4)),      # middle / end
    ("i...j,j...->i...", (2, 1, 5), (5, 3)),
    ("ij...,jk...->ik...", (2, 3, 4), (3, 2, 4)),       # end
    ("ij...,jk...->ik...", (2, 3, 1), (3, 2, 4)),
    ("a...b->...", (2, 3, 4, 5)),                       # middle, sum the rest
    ("a...b->b...a", (2, 3, 4, 5)),
    ("...ii->...i", (2, 3, 3)),                         # ellipsis with a diagonal
    ("...ii->...", (2, 3, 3)),
    ("...,...->...", (2, 3), (3,)),                     # pure broadcasting product
    ("i...,i...->...", (3, 2), (3, 2)),
]


@pytest.mark.parametrize("subscripts, shapes", _split(ELLIPSIS_CASES),
                         ids=[f"{c[0]}-{c[1]}" for c in ELLIPSIS_CASES])
def test_einsum_ellipsis(subscripts, shapes):
    assert_einsum(subscripts, *shapes)


def test_ellipsis_missing_from_output_sums_those_dims():
    # documented extension of numpy (which refuses these): an explicit output without
    # '...' sums the ellipsis dimensions away
    x, = make_vars((2, 3))
    assert_matches(ad.einsum("...->", x), [x], np.sum)
    a, b = make_vars((2, 3, 4), (2, 4, 5), seed=2)
    assert_matches(ad.einsum("...ij,...jk->ik", a, b), [a, b],
                   lambda p, q: np.einsum("...ij,...jk->...ik", p, q).sum(axis=0))
    assert_matches(ad.Einsum("i...j->ij", a), [a], lambda p: p.sum(axis=1))


@given(batch_a=st.lists(st.integers(1, 3), max_size=3),
       batch_b=st.lists(st.integers(1, 3), max_size=3),
       i=st.integers(1, 4), j=st.integers(1, 4), k=st.integers(1, 4),
       data=st.data())
@HYP
def test_ellipsis_batched_matmul_random_broadcast(batch_a, batch_b, i, j, k, data):
    # make the two batch shapes broadcast-compatible (numpy rules, right-aligned)
    n = min(len(batch_a), len(batch_b))
    for t in range(1, n + 1):
        if batch_a[-t] != batch_b[-t] and 1 not in (batch_a[-t], batch_b[-t]):
            batch_b[-t] = data.draw(st.sampled_from([1, batch_a[-t]]))
    a, b = make_vars(tuple(batch_a) + (i, j), tuple(batch_b) + (j, k))
    ref = lambda x, y: np.einsum("...ij,...jk->...ik", x, y)  # noqa: E731
    assert_matches(ad.einsum("...ij,...jk->...ik", a, b), [a, b], ref)
    assert_matches(ad.matmul(a, b), [a, b], np.matmul)


# --- random einsum specifications with hypothesis -----------------------------------

@st.composite
def einsum_specs(draw):
    """(subscripts, shapes) for a random valid einsum of 1 to 3 operands: repeated
    labels, labels summed in one operand, size-1 broadcast axes, implicit outputs."""
    alphabet = "abcde"
    sizes = {l: draw(st.integers(1, 4)) for l in alphabet}
    n_ops = draw(st.integers(1, 3))
    inputs, shapes = [], []
    for _ in range(n_ops):
        subs = draw(st.text(alphabet=alphabet, min_size=0, max_size=3))
        shape = []
        for pos, l in enumerate(subs):
            repeated = l in subs[:pos] or l in subs[pos + 1:]
            # a label may be broadcast (size 1) in an operand, but not where it repeats
            broadcast = not repeated and draw(st.booleans()) and draw(st.booleans())
            shape.append(1 if broadcast else sizes[l])
        inputs.append(subs)
        shapes.append(tuple(shape))
    used = sorted(set("".join(inputs)))
    if draw(st.booleans()):
        subscripts = ",".join(inputs)          # implicit output
    else:
        out = draw(st.permutations(used))
        out = out[:draw(st.integers(0, len(out)))]
        subscripts = ",".join(inputs) + "->" + "".join(out)
    return subscripts, shapes


@given(spec=einsum_specs())
@settings(deadline=None, max_examples=60, derandomize=True, database=None)
def test_einsum_random_specs_match_numpy(spec):
    subscripts, shapes = spec
    xs = make_vars(*shapes)
    ref = lambda *arrays: np.einsum(subscripts, *arrays)  # noqa: E731
    assert_matches(ad.Einsum(subscripts, *xs), xs, ref)
    assert_matches(ad.einsum(subscripts, *xs), xs, ref)


# --- the same node passed more than once -------------------------------------------

def test_same_node_twice_full_contraction():
    a, = make_vars((3, 4))
    assert_matches(ad.einsum("ij,ij->", a, a), [a], lambda x: np.einsum("ij,ij->", x, x))
    # the gradient of sum(a*a) is 2a
    g, = ad.grad(ad.einsum("ij,ij->", a, a), [a])
    np.testing.assert_allclose(g(), 2 * a.value)


def test_same_node_twice_matrix_product():
    a, = make_vars((3, 3))
    ref = lambda x: x @ x  # noqa: E731
    assert_matches(ad.einsum("ij,jk->ik", a, a), [a], ref)
    assert_matches(ad.Einsum("ij,jk->ik", a, a), [a], ref)
    assert_matches(a @ a, [a], ref)
    assert_matches(ad.matmul(a, a), [a], ref)


def test_same_node_twice_dot_product():
    x, = make_vars((5,))
    assert_matches(ad.einsum("i,i->", x, x), [x], lambda v: np.einsum("i,i->", v, v))
    assert_matches(ad.dot(x, x), [x], lambda v: np.dot(v, v))
    g, = ad.grad(ad.einsum("i,i->", x, x), [x])
    np.testing.assert_allclose(g(), 2 * x.value)


def test_same_node_twice_with_transpose_and_diagonal():
    a, = make_vars((3, 3))
    assert_matches(ad.einsum("ij,ji->", a, a), [a], lambda x: np.einsum("ij,ji->", x, x))
    assert_matches(ad.einsum("ii,ij->j", a, a), [a], lambda x: np.einsum("ii,ij->j", x, x))
    assert_matches(ad.einsum("ij,ik->jk", a, a), [a], lambda x: x.T @ x)


def test_same_node_three_and_four_times():
    a, = make_vars((3, 3))
    ref3 = lambda x: x @ x @ x  # noqa: E731
    assert_matches(ad.einsum("ij,jk,kl->il", a, a, a), [a], ref3)
    assert_matches(ad.Einsum("ij,jk,kl->il", a, a, a), [a], ref3)
    x, = make_vars((4,), seed=3)
    ref4 = lambda v: np.einsum("i,i,j,j->", v, v, v, v)  # noqa: E731
    assert_matches(ad.einsum("i,i,j,j->", x, x, x, x), [x], ref4)
    assert_matches(ad.Einsum("i,i,j,j->", x, x, x, x), [x], ref4)


def test_same_node_mixed_with_other_operands():
    a, b = make_vars((3, 4), (4, 4))
    ref = lambda x, y: np.einsum("ij,jk,lk->il", x, y, x)  # noqa: E731
    assert_matches(ad.einsum("ij,jk,lk->il", a, b, a), [a, b], ref)
    assert_matches(ad.Einsum("ij,jk,lk->il", a, b, a), [a, b], ref)


# --- multi-operand contractions: ad.einsum (split) vs ad.Einsum (n-ary) ------------

MULTI_CASES = [
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    ("ij,jk,kl", (2, 3), (3, 4), (4, 2)),                  # implicit
    ("i,ij,j->", (3,), (3, 4), (4,)),
    ("ij,jk,kl->", (2, 3), (3, 4), (4, 2)),
    ("abc,cd,bd->a", (2, 3, 4), (4, 2), (3, 2)),
    ("ij,ik,il->jkl", (3, 2), (3, 2), (3, 2)),             # a label in all three
    ("ii,ij,j->i", (3, 3), (3, 2), (2,)),                  # repeated label
    ("ij,jk,k->i", (3, 1), (4, 2), (2,)),                  # size-1 broadcast
    ("...ij,...jk,...kl->...il", (2, 2, 3), (1, 3, 4), (4, 2)),
    ("ab,bc,cd,de->ae", (2, 3), (3, 4), (4, 3), (3, 2)),
    ("ab,bc,cd,da->", (2, 3), (3, 4), (4, 3), (3, 2)),    # a cycle: trace of a product
    ("i,ij,jk,k->", (2,), (2, 3), (3, 4), (4,)),
    ("ab,cd,ac,bd->", (2, 3), (4, 2), (2, 4), (3, 2)),
    ("abc,bd,ce,a->de", (2, 3, 4), (3, 2), (4, 3), (2,)),
    ("i,j,k,l->ijkl", (2,), (3,), (1,), (2,)),            # 4-way outer product
    ("ij,jk,kl,lm,mn->in", (2, 2), (2, 3), (3, 2), (2, 2), (2, 3)),  # 5 operands
]


@pytest.mark.parametrize("subscripts, shapes", _split(MULTI_CASES), ids=[c[0] for c in MULTI_CASES])
def test_multi_operand_split_and_nary_agree(subscripts, shapes):
    xs = make_vars(*shapes, seed=4)
    ref = lambda *arrays: np.einsum(subscripts, *arrays)  # noqa: E731
    split = ad.einsum(subscripts, *xs)
    nary = ad.Einsum(subscripts, *xs)
    assert isinstance(nary, ad.Einsum) and len(nary.children) == len(xs)
    g_split = assert_matches(split, xs, ref)
    g_nary = assert_matches(nary, xs, ref)
    np.testing.assert_allclose(split(), nary(), rtol=1e-12, atol=1e-12)
    for g1, g2 in zip(g_split, g_nary):
        np.testing.assert_allclose(g1(), g2(), rtol=1e-10, atol=1e-12)


def test_split_einsum_builds_binary_nodes():
    xs = make_vars((2, 3), (3, 4), (4, 5), (5, 2))
    y = ad.einsum("ab,bc,cd,de->ae", *xs)
    einsums = [n for n in ad.topo_sort([y]) if isinstance(n, ad.Einsum)]
    assert len(einsums) == 3
    assert all(len(n.children) == 2 for n in einsums)


@given(n=st.integers(3, 4), dims=st.lists(st.integers(1, 4), min_size=5, max_size=5))
@HYP
def test_chain_product_random_sizes(n, dims):
    letters = "abcde"
    subs = ",".join(letters[i] + letters[i + 1] for i in range(n)) + "->" + letters[0] + letters[n]
    shapes = [(dims[i], dims[i + 1]) for i in range(n)]
    xs = make_vars(*shapes, seed=n)
    ref = lambda *arrays: np.linalg.multi_dot(arrays)  # noqa: E731
    g1 = assert_matches(ad.einsum(subs, *xs), xs, ref)
    g2 = assert_matches(ad.Einsum(subs, *xs), xs, ref)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a(), b(), rtol=1e-10, atol=1e-12)


# --- matmul ----------------------------------------------------------------------------

MATMUL_CASES = [
    ((3, 4), (4, 2)),
    ((1, 4), (4, 1)),
    ((2, 3, 4), (2, 4, 5)),          # batched
    ((2, 3, 4), (4, 5)),             # batch only on the left
    ((4, 5), (3, 5, 2)),             # batch only on the right
    ((5, 1, 3, 4), (7, 4, 2)),       # broadcast batch dims
    ((2, 1, 3, 4), (1, 3, 4, 2)),
    ((4,), (4, 3)),                  # 1-D left
    ((3, 4), (4,)),                  # 1-D right
    ((4,), (4,)),                    # 1-D both: scalar
    ((4,), (2, 4, 3)),               # 1-D with a batched matrix
    ((2, 3, 4), (4,)),
    ((1,), (1, 1)),
]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_CASES,
                         ids=[f"{a}@{b}" for a, b in MATMUL_CASES])
def test_matmul(shape_a, shape_b):
    a, b = make_vars(shape_a, shape_b, seed=5)
    assert_matches(ad.matmul(a, b), [a, b], np.matmul)
    assert_matches(a @ b, [a, b], np.matmul)
    assert_matches(ad.MatMul(a, b), [a, b], np.matmul)


def test_matmul_with_constant_operand():
    a, = make_vars((3, 4))
    m = _rng(2).standard_normal((4, 2))
    assert_matches(a @ m, [a], lambda x: x @ m)
    assert_matches(ad.matmul(m.T, ad.transpose(a)), [a], lambda x: m.T @ x.T)
    assert_matches(ad.matmul(m.T[0], ad.transpose(a)), [a], lambda x: m.T[0] @ x.T)


def test_matmul_is_an_einsum_node():
    a, b = make_vars((3, 4), (4, 2))
    assert isinstance(a @ b, ad.Einsum)
    assert isinstance(ad.MatMul(a, b), ad.Einsum)


@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=3), batch=st.lists(st.integers(1, 3), max_size=2),
       left_1d=st.booleans(), right_1d=st.booleans())
@HYP
def test_matmul_random_shapes(shape, batch, left_1d, right_1d):
    m, k, n = shape
    sa = (k,) if left_1d else tuple(batch) + (m, k)
    sb = (k,) if right_1d else (k, n)
    a, b = make_vars(sa, sb, seed=6)
    assert_matches(a @ b, [a, b], np.matmul)


# --- dot, tensordot, outer --------------------------------------------------------

DOT_CASES = [
    ((), ()),
    ((), (3,)),
    ((2, 3), ()),
    ((4,), (4,)),
    ((3, 4), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4, 2)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (5, 4, 2)),          # N-D: sum over a's last and b's second-to-last
    ((2, 4), (3, 2, 4, 2)),
]


@pytest.mark.parametrize("shape_a, shape_b", DOT_CASES, ids=[f"{a}.{b}" for a, b in DOT_CASES])
def test_dot(shape_a, shape_b):
    a, b = make_vars(shape_a, shape_b, seed=7)
    assert_matches(ad.dot(a, b), [a, b], np.dot)


TENSORDOT_CASES = [
    ((3, 4), (4, 2), 1),
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3), (2, 3), 2),             # full contraction: 'ij,ij'-like over both axes
    ((2, 3), (4,), 0),               # outer product
    ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])),
    ((2, 3, 4), (4, 3, 2), ((0,), (2,))),
    ((2, 3, 4), (2, 5), (0, 0)),     # single int axes pair
    ((2, 3, 4), (4, 3), ([-1, -2], [0, 1])),  # negative axes
    ((3, 3), (3, 3), ([0, 1], [1, 0])),
    ((2, 3), (2, 3), ([], [])),      # no axes: outer product
]


@pytest.mark.parametrize("shape_a, shape_b, axes", TENSORDOT_CASES,
                         ids=[f"{a}x{b}-{ax}" for a, b, ax in TENSORDOT_CASES])
def test_tensordot(shape_a, shape_b, axes):
    a, b = make_vars(shape_a, shape_b, seed=8)
    assert_matches(ad.tensordot(a, b, axes=axes), [a, b], lambda x, y: np.tensordot(x, y, axes=axes))


def test_tensordot_default_axes():
    a, b = make_vars((2, 3, 4), (3, 4, 2), seed=9)
    assert_matches(ad.tensordot(a, b), [a, b], np.tensordot)


def test_tensordot_same_node():
    a, = make_vars((3, 3))
    assert_matches(ad.tensordot(a, a, axes=([0], [1])), [a],
                   lambda x: np.tensordot(x, x, axes=([0], [1])))


def test_tensordot_axes_count_mismatch_raises():
    a, b = make_vars((2, 3), (3, 2))
    with pytest.raises(ValueError, match=r"a \(2, 3\).*b \(3, 2\)"):
        ad.tensordot(a, b, axes=([0, 1], [0]))


@pytest.mark.parametrize("shape_a, shape_b", [((3,), (4,)), ((2, 3), (4,)), ((2, 2), (1, 3)), ((), (3,))])
def test_outer(shape_a, shape_b):
    a, b = make_vars(shape_a, shape_b, seed=10)
    assert_matches(ad.outer(a, b), [a, b], np.outer)


def test_outer_same_node():
    x, = make_vars((3,))
    assert_matches(ad.outer(x, x), [x], lambda v: np.outer(v, v))


# --- transpose ------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes", [((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 2, 0)),
                                         ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), (-1, 0, 1)), ((3,), None),
                                         ((), None), ((1, 2, 1, 3), (3, 0, 2, 1))])
def test_transpose(shape, axes):
    x, = make_vars(shape, seed=11)
    ref = lambda v: np.transpose(v, axes)  # noqa: E731
    assert_matches(ad.transpose(x, axes), [x], ref)
    assert_matches(ad.Transpose(x, axes), [x], ref)
    assert isinstance(ad.Transpose(x, axes), ad.Einsum)


def test_transpose_property_and_einsum():
    x, = make_vars((2, 3, 4))
    assert_matches(x.T, [x], lambda v: v.T)
    assert_matches(ad.einsum("ijk->kji", x), [x], lambda v: np.einsum("ijk->kji", v))


@pytest.mark.parametrize("axes", [(0, 1), (0, 0, 1), (0, 1, 3), (1,)])
def test_transpose_bad_axes_raises(axes):
    x, = make_vars((2, 3, 4), names=["xx"])
    with pytest.raises(ValueError, match=r"xx \(2, 3, 4\)"):
        ad.Transpose(x, axes)


# --- trace and diagonal ----------------------------------------------------------

DIAG_CASES = [
    ((4, 4), 0, 0, 1),
    ((4, 4), 1, 0, 1),
    ((4, 4), -2, 0, 1),
    ((3, 5), 0, 0, 1),               # rectangular
    ((3, 5), 2, 0, 1),
    ((5, 3), -1, 0, 1),
    ((3, 5), 1, 1, 0),               # swapped axes
    ((2, 3, 4), 0, 1, 2),
    ((2, 3, 4), 1, 0, 2),
    ((2, 3, 4), -1, 2, 0),
    ((3, 2, 3), 0, 0, 2),
    ((3, 2, 3), 0, -1, -3),          # negative axes
    ((2, 3, 4, 3), 1, 1, 3),
    ((3, 3), 3, 0, 1),               # offset past the edge: empty diagonal
    ((3, 3), -4, 0, 1),
]


@pytest.mark.parametrize("shape, offset, axis1, axis2", DIAG_CASES,
                         ids=[f"{s}-off{o}-ax{a1}{a2}" for s, o, a1, a2 in DIAG_CASES])
def test_diagonal(shape, offset, axis1, axis2):
    x, = make_vars(shape, seed=12)
    assert_matches(ad.diagonal(x, offset=offset, axis1=axis1, axis2=axis2), [x],
                   lambda v: np.diagonal(v, offset=offset, axis1=axis1, axis2=axis2))


@pytest.mark.parametrize("shape, offset, axis1, axis2", DIAG_CASES,
                         ids=[f"{s}-off{o}-ax{a1}{a2}" for s, o, a1, a2 in DIAG_CASES])
def test_trace(shape, offset, axis1, axis2):
    x, = make_vars(shape, seed=13)
    assert_matches(ad.trace(x, offset=offset, axis1=axis1, axis2=axis2), [x],
                   lambda v: np.trace(v, offset=offset, axis1=axis1, axis2=axis2))


def test_trace_default_matches_einsum():
    x, = make_vars((4, 4))
    np.testing.assert_allclose(ad.trace(x)(), ad.einsum("ii", x)())
    g, = ad.grad(ad.trace(x), [x])
    np.testing.assert_allclose(g(), np.eye(4))


def test_diagonal_same_axis_raises():
    x, = make_vars((3, 3), names=["m"])
    with pytest.raises(ValueError, match=r"m \(3, 3\)"):
        ad.diagonal(x, axis1=1, axis2=-1)


# --- sum as an einsum -------------------------------------------------------------

@pytest.mark.parametrize("shape, axis, keepdims", [((2, 3, 4), None, False), ((2, 3, 4), 1, False),
                                                   ((2, 3, 4), (0, 2), False), ((2, 3, 4), -1, True),
                                                   ((2, 3, 4), None, True), ((2, 3), (), False),
                                                   ((), None, False), ((3,), 0, True)])
def test_sum(shape, axis, keepdims):
    x, = make_vars(shape, seed=14)
    assert_matches(ad.sum(x, axis=axis, keepdims=keepdims), [x],
                   lambda v: np.sum(v, axis=axis, keepdims=keepdims))


# --- zero-size dimensions ------------------------------------------------------------

@pytest.mark.parametrize("subscripts, shapes", _split([
    ("ij,jk->ik", (2, 0), (0, 3)),   # empty contraction: zeros
    ("i,i->i", (0,), (0,)),
    ("i->i", (0,)),
    ("ij->j", (0, 3)),
    ("ij,jk->ik", (0, 2), (2, 3)),
    ("ii->i", (0, 0)),
]), ids=lambda v: str(v))
def test_einsum_zero_size_dims(subscripts, shapes):
    assert_einsum(subscripts, *shapes)


# --- previous_grad as a node, dtype, value updates ---------------------------------

def test_previous_grad_as_node():
    a, b = make_vars((2, 3), (3, 4))
    cot = _rng(3).standard_normal((2, 4))
    y = ad.einsum("ij,jk->ik", a, b)
    ga, gb = ad.grad(y, [a, b], previous_grad=ad.Constant(cot))
    np.testing.assert_allclose(ga(), cot @ b.value.T)
    np.testing.assert_allclose(gb(), a.value.T @ cot)


def test_gradient_wrt_unrelated_variable_is_zero():
    a, b = make_vars((2, 3), (3, 4))
    c, = make_vars((5,), names=["c"])
    g, = ad.grad(ad.einsum("ij,jk->ik", a, b), [c])
    np.testing.assert_array_equal(g(), np.zeros(5))


def test_einsum_sees_new_values():
    a, b = make_vars((2, 3), (3, 4))
    y = ad.einsum("ij,jk->ik", a, b)
    ga, = ad.grad(y, [a])
    y()
    a.value = np.ones((2, 3))
    b.value = np.full((3, 4), 2.0)
    np.testing.assert_allclose(y(), np.full((2, 4), 6.0))
    np.testing.assert_allclose(ga(), np.full((2, 3), 8.0))


def test_float32_is_kept():
    a = ad.Variable(np.ones((2, 3), dtype=np.float32), name="a")
    b = ad.Variable(np.ones((3, 4), dtype=np.float32), name="b")
    for y in (ad.einsum("ij,jk->ik", a, b), a @ b, ad.Einsum("ij,jk,kl->il", a, b, b.T)):
        assert y.dtype == np.float32
        assert y().dtype == np.float32
        for g in ad.grad(y, [a, b]):
            assert g().dtype == np.float32


def test_shape_known_at_build_time():
    a, b = make_vars((5, 1, 3, 4), (7, 4, 2))
    assert ad.einsum("...ij,...jk->...ik", a, b).shape == (5, 7, 3, 2)
    assert (a @ b).shape == (5, 7, 3, 2)
    assert ad.Einsum("ijkl->", a).shape == ()


def test_normalised_subscripts():
    a, b = make_vars((2, 3, 4), (4, 5))
    y = ad.Einsum("...j,jk", a, b)
    ins, out = y.subscripts.split("->")
    assert len(out) == 3 and all(len(s) == n for s, n in zip(ins.split(","), (3, 2)))
    assert y.shape == (2, 3, 5)


# --- second derivatives --------------------------------------------------------------

SECOND_ORDER_CASES = [
    ("ij,jk->ik", (2, 3), (3, 2)),
    ("ij,jk->k", (2, 3), (3, 2)),
    ("ii->i", (3, 3)),
    ("ii,i->i", (3, 3), (3,)),
    ("iij->j", (2, 2, 3)),
    ("ij,ij->ij", (3, 1), (3, 2)),
    ("...ij,...jk->...ik", (2, 1, 2, 3), (2, 3, 2)),
    ("i...j,j...->i...", (2, 3, 2), (2, 3)),
    ("ijk->kji", (2, 3, 2)),
    ("ij,jk,kl->il", (2, 3), (3, 2), (2, 2)),
    ("ab,bc,cd,da->", (2, 2), (2, 3), (3, 2), (2, 2)),
]


@pytest.mark.parametrize("subscripts, shapes", _split(SECOND_ORDER_CASES),
                         ids=[c[0] for c in SECOND_ORDER_CASES])
@pytest.mark.parametrize("builder", ["einsum", "Einsum"])
def test_second_order_squared(subscripts, shapes, builder):
    xs = make_vars(*shapes, seed=15)
    y = getattr(ad, builder)(subscripts, *xs)
    ad.check_grad(ad.sum(y ** 2), xs, order=2)


@pytest.mark.parametrize("subscripts, shapes", _split(SECOND_ORDER_CASES[:6]),
                         ids=[c[0] for c in SECOND_ORDER_CASES[:6]])
def test_second_order_nonlinear(subscripts, shapes):
    xs = make_vars(*shapes, seed=16)
    y = ad.tanh(ad.einsum(subscripts, *xs))
    ad.check_grad(y, xs, order=2)


def test_second_order_same_node():
    a, = make_vars((3, 3), seed=17)
    ad.check_grad(ad.einsum("ij,jk->ik", a, a), [a], order=2)
    ad.check_grad(ad.sin(ad.einsum("ij,ij->", a, a)), [a], order=2)
    x, = make_vars((4,), seed=18)
    ad.check_grad(ad.exp(ad.einsum("i,i->", x, x) * 0.1), [x], order=2)


def test_second_order_contractions():
    a, b = make_vars((2, 3, 3), (3, 2), seed=19)
    ad.check_grad(ad.sum(ad.tensordot(a, b, axes=([1], [0])) ** 2), [a, b], order=2)
    ad.check_grad(ad.sum(ad.dot(a, b) ** 2), [a, b], order=2)
    ad.check_grad(ad.tanh(ad.trace(a, offset=1, axis1=1, axis2=2)), [a], order=2)
    ad.check_grad(ad.sum(ad.diagonal(a, axis1=2, axis2=1) ** 3), [a], order=2)
    ad.check_grad(ad.sum(ad.outer(b, b) ** 2), [b], order=2)
    ad.check_grad(ad.sum((a @ b) ** 2), [a, b], order=2)


def test_hessian_of_quadratic_form_exact():
    # f(x) = x^T A x  ->  Hessian A + A^T, gradient (A + A^T) x
    A = _rng(20).standard_normal((3, 3))
    x = ad.Variable(_rng(21).standard_normal(3), name="x")
    f = ad.einsum("i,ij,j->", x, A, x)
    g, = ad.grad(f, [x])
    np.testing.assert_allclose(g(), (A + A.T) @ x.value)
    for k in range(3):
        h, = ad.grad(g[k], [x])
        np.testing.assert_allclose(h(), (A + A.T)[k])


def test_second_derivative_of_diagonal_exact():
    # d/dA of grad(sum(diag(A)**2)) = 2 * diag embedding: exact check of the 'ii->i' rule
    A = ad.Variable(_rng(22).standard_normal((3, 3)), name="A")
    f = ad.sum(ad.einsum("ii->i", A) ** 2)
    g, = ad.grad(f, [A])
    np.testing.assert_allclose(g(), 2 * np.diag(np.diag(A.value)))
    v = _rng(23).standard_normal((3, 3))
    hv, = ad.grad(g, [A], previous_grad=v)
    np.testing.assert_allclose(hv(), 2 * np.diag(np.diag(v)))


# --- malformed subscripts: ValueError at build time naming the operands ------------

def _names_and_shapes(*variables):
    """A regex that requires every operand's name and shape to appear in the message."""
    return "".join(f"(?=.*{re.escape(v.name)} {re.escape(str(v.shape))})" for v in variables)


ERROR_CASES = [
    # bad characters
    ("i1,jk->ik", (2, 3), (3, 4)),
    ("ij,jk->i_k", (2, 3), (3, 4)),
    ("i.j,jk->ik", (2, 3), (3, 4)),
    ("ij,j$->i", (2, 3), (3, 4)),
    ("ij,jk->ik->i", (2, 3), (3, 4)),          # two arrows
    ("i...j...,jk->ik", (2, 3), (3, 4)),       # two ellipses in one operand
    # wrong number of operands
    ("ij->i", (2, 3), (3, 4)),
    ("ij,jk,kl->il", (2, 3), (3, 4)),
    # label count does not match ndim
    ("ijk,jk->ik", (2, 3), (3, 4)),
    ("i,jk->ik", (2, 3), (3, 4)),
    ("...ijk,kl->il", (2, 3), (3, 4)),         # ellipsis needs at least 3 dims
    # mismatched label sizes
    ("ij,jk->ik", (2, 3), (4, 5)),
    ("ij,ij->ij", (2, 3), (3, 2)),
    ("...ij,...jk->...ik", (2, 3, 4), (3, 4, 5)),   # ellipsis dims 2 vs 3
    ("ii,jk->ik", (2, 3), (3, 4)),             # repeated label, different sizes
    # output labels
    ("ij,jk->iq", (2, 3), (3, 4)),
    ("ij,jk->ii", (2, 3), (3, 4)),             # repeated output label
]


@pytest.mark.parametrize("subscripts, shapes", _split(ERROR_CASES),
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in ERROR_CASES])
def test_malformed_subscripts_raise_at_build_time(subscripts, shapes):
    xs = make_vars(*shapes, names=["lhs", "rhs"])
    with pytest.raises(ValueError, match=_names_and_shapes(*xs)):
        ad.Einsum(subscripts, *xs)
    with pytest.raises(ValueError, match=_names_and_shapes(*xs)):
        ad.einsum(subscripts, *xs)


@pytest.mark.parametrize("subscripts, shapes", _split([
    ("ii->i", (2, 3)),
    ("ii->i", (1, 3)),                          # a repeated label cannot broadcast
    ("iij->j", (3, 1, 2)),
    ("ij->j", (2,)),
    ("i2->", (2, 2)),
    ("->", (3,)),
]))
def test_single_operand_errors(subscripts, shapes):
    x, = make_vars(*shapes, names=["solo"])
    with pytest.raises(ValueError, match=_names_and_shapes(x)):
        ad.Einsum(subscripts, x)
    with pytest.raises(ValueError, match=_names_and_shapes(x)):
        ad.einsum(subscripts, x)


@pytest.mark.parametrize("subscripts, shapes", _split([
    ("ij,jk,kl->il", (2, 3), (3, 4), (5, 2)),   # size mismatch in the third operand
    ("ij,jk,kl->iz", (2, 3), (3, 4), (4, 2)),   # unknown output label
    ("ij,jk,k#->il", (2, 3), (3, 4), (4, 2)),   # bad character
    ("ij,jk,kl,lm->im", (2, 3), (3, 4), (4, 2)),  # too many subscripts
    ("ij,jk,klm->im", (2, 3), (3, 4), (4, 2)),  # rank mismatch
]))
def test_multi_operand_errors(subscripts, shapes):
    xs = make_vars(*shapes, names=["p", "q", "r"])
    with pytest.raises(ValueError, match=_names_and_shapes(*xs)):
        ad.einsum(subscripts, *xs)
    with pytest.raises(ValueError, match=_names_and_shapes(*xs)):
        ad.Einsum(subscripts, *xs)


@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)),
                                              ((4,), (3, 2)), ((2, 3, 4), (5, 4, 2)),
                                              ((3, 2, 3, 4), (2, 1, 4, 2))])
def test_matmul_shape_errors(shape_a, shape_b):
    a, b = make_vars(shape_a, shape_b, names=["left", "right"])
    with pytest.raises(ValueError, match=_names_and_shapes(a, b)):
        a @ b
    with pytest.raises(ValueError, match=_names_and_shapes(a, b)):
        ad.matmul(a, b)


def test_matmul_scalar_operand_raises():
    a, b = make_vars((), (3, 3), names=["s", "m"])
    with pytest.raises(ValueError, match=_names_and_shapes(a, b)):
        ad.matmul(a, b)


@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (5, 3, 2))])
def test_dot_shape_errors(shape_a, shape_b):
    a, b = make_vars(shape_a, shape_b, names=["u", "w"])
    with pytest.raises(ValueError, match=_names_and_shapes(a, b)):
        ad.dot(a, b)


def test_tensordot_size_mismatch_raises():
    a, b = make_vars((2, 3), (4, 2), names=["t1", "t2"])
    with pytest.raises(ValueError, match=_names_and_shapes(a, b)):
        ad.tensordot(a, b, axes=1)


def test_subscripts_must_be_a_string():
    a, = make_vars((2, 2))
    with pytest.raises(TypeError):
        ad.Einsum(["ij->ji"], a)
