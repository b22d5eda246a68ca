"""The polynomial pass: Horner sizes counted without building match what is built, the
work budget and the monomial bound turn nodes into atoms instead of failing, and
counts are shared between polynomials of one shape."""
import numpy as np
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.rewrite import REAL
from autodiff.rewrite import polynomial as P
from autodiff.rewrite.engine import Rewriter, uniform_level


def polynomials():
    monomial = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), max_size=3).map(
        lambda pairs: tuple(sorted(dict(pairs).items())))
    coefficient = st.sampled_from([1.0, -1.0, 2.0, 0.5, -3.0])
    return st.dictionaries(monomial, coefficient, min_size=1, max_size=8)


def built_size(p):
    """Nodes above the atoms of `p`'s Horner form built with interning and no rules."""
    atoms = P.Atoms()
    variables = [ad.Variable(np.full(3, k + 1.5), name=f"a{k}") for k in range(4)]
    for v in variables:
        atoms.of(v)
    rw = Rewriter([], uniform_level(REAL))
    root = P.emit(p, atoms, rw.make, variables[0])
    return sum(1 for n in ad.topo_sort(root) if n.children), root, variables


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(polynomials())
def test_counted_size_is_the_built_size_and_the_value_is_right(p):
    size, root, variables = built_size(p)
    assert P.emitted_size(p, 10_000) == size
    assert P.emitted_size(p, size) == size
    if size:
        assert P.emitted_size(p, size - 1) is None
    values = [v.value for v in variables]
    expected = sum(c * np.prod([values[i] ** e for i, e in m], axis=0) for m, c in p.items())
    np.testing.assert_allclose(np.broadcast_to(root(), (3,)), expected, rtol=1e-12)


def test_alike_polynomials_share_one_count():
    p = {((3, 2), (7, 1)): 1.0, ((7, 1),): -2.0}
    q = {((5, 2), (9, 1)): 1.0, ((9, 1),): -2.0}   # the same shape, atoms shifted
    assert P.relabelled(p) == P.relabelled(q)
    known = {}
    assert P.emitted_size(p, 50, known) == P.emitted_size(q, 50, known)
    assert len(known) == 1


def test_an_empty_budget_and_long_monomials_make_atoms():
    algebra = P.Algebra(budget=P.Budget(0))
    x = algebra.atom(0)
    assert algebra.product(x, x) is None
    long = P.Algebra()
    m = algebra.atom(0)
    for i in range(1, P.MAX_MONOMIAL_ATOMS + 1):
        m = long.product(m, long.atom(i))
    assert m is None  # a product of more distinct atoms than MAX_MONOMIAL_ATOMS


def test_simplify_stays_right_when_the_budget_runs_out(monkeypatch):
    from autodiff.rewrite import expand
    monkeypatch.setattr(expand, "MIN_WORK", 0)
    monkeypatch.setattr(expand, "WORK_PER_NODE", 0)
    x = ad.Variable(np.linspace(-1, 1, 5), name="x")
    y = (x + 1) * (x - 1) * (x + 2)
    s = ad.simplify(y)
    assert ad.graph_size(s) <= ad.graph_size(y)
    np.testing.assert_allclose(s(), y(), rtol=1e-12)
