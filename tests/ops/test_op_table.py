"""Tests generated from the op table in `op_specs.py` (docs/design.md, principle 9).

For every spec, on hypothesis-drawn shapes and float64 values from the spec's domain:

* forward: shape, dtype and value agree with the numpy reference, also after the
  Variables are given new values (no stale results);
* first derivative: the full gradient array (for a random output cotangent) agrees,
  element by element, with a central finite difference of the *numpy reference*;
* second derivative: the symbolic second directional derivative agrees with a finite
  difference of the numpy reference along a random direction;
* `ad.check_grad(order=2)`: the library's own random-direction check, orders 1 and 2;
* binary broadcasting ops reject incompatible shapes when the node is built.

Expected values come only from numpy; nothing is copied from the code under test.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad

from op_specs import SPECS, DESIGN_CLASSES, DESIGN_FUNCTIONS, DESIGN_OPERATORS, covered_names

# Deterministic and modest: the same examples on every run and every machine. Second-order
# tests get fewer examples: each one simplifies and plans two levels of derivative graphs,
# which costs far more than the numpy work (about 250 specs share the time budget).
TABLE_SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
SECOND_ORDER_SETTINGS = settings(TABLE_SETTINGS, max_examples=10)

DIFFERENTIABLE = [s for s in SPECS if s.differentiable]
BROADCASTING = [s for s in SPECS if s.broadcasting]


def ids(spec):
    return spec.name


class Case:
    """One drawn example: operand values, kwargs, a random generator for directions."""

    def __init__(self, spec, shapes, seed):
        self.spec = spec
        self.shapes = shapes
        self.rng = np.random.default_rng(seed)
        self.values = [np.array(d.sample(self.rng, s)) for d, s in zip(spec.domains, shapes)]
        self.kwargs = spec.kwargs_for(shapes)
        self.variables = [ad.Variable(v, name=f"x{i}") if d.differentiable else None
                          for i, (d, v) in enumerate(zip(spec.domains, self.values))]
        self.node = spec.fn(*self.operands(), **self.kwargs)

    def operands(self):
        return [var if var is not None else val for var, val in zip(self.variables, self.values)]

    @property
    def wrt(self):
        return [v for v in self.variables if v is not None]

    @property
    def wrt_index(self):
        return [i for i, v in enumerate(self.variables) if v is not None]

    def reference(self, values=None):
        return np.asarray(self.spec.ref(*(self.values if values is None else values),
                                        **self.kwargs))

    def __repr__(self):
        return (f"Case({self.spec.name}, shapes={self.shapes}, kwargs={self.kwargs}, "
                f"values={[_short(v) for v in self.values]})")


def _short(value):
    return (np.round(value, 3) if value.dtype.kind == "f" else value).tolist()


@st.composite
def cases(draw, spec):
    shapes = tuple(tuple(s) for s in draw(spec.shapes))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return Case(spec, shapes, seed)


def evaluate(node):
    return np.asarray(node())


# --- forward -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS, ids=ids)
@TABLE_SETTINGS
@given(data=st.data())
def test_forward_matches_numpy(spec, data):
    case = data.draw(cases(spec), label="case")
    expected = case.reference()
    node = case.node
    assert node.shape == expected.shape, f"inferred shape {node.shape}, numpy {expected.shape}"
    assert node.dtype == expected.dtype, f"inferred dtype {node.dtype}, numpy {expected.dtype}"
    value = evaluate(node)
    assert value.shape == expected.shape
    assert value.dtype == expected.dtype
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)

    # New Variable values: the same node gives numpy's answer for them (never stale).
    new_values = [np.array(d.sample(case.rng, s)) if var is not None else v
                  for d, s, v, var in zip(spec.domains, case.shapes, case.values,
                                          case.variables)]
    for var, v in zip(case.variables, new_values):
        if var is not None:
            var.value = v
    np.testing.assert_allclose(evaluate(node), case.reference(new_values),
                               rtol=1e-10, atol=1e-12)


# --- first derivative: full gradient vs finite differences of numpy ----------------------

FD_EPS = 1e-4


def fd_gradient(case, cotangent):
    """d/dx_k sum(cotangent * ref(x)) for every element of every differentiable operand,
    by a fourth-order central difference of the numpy reference."""
    def objective(values):
        return float(np.sum(cotangent * case.reference(values)))

    grads = []
    for k in case.wrt_index:
        g = np.zeros(case.values[k].shape)
        for j in np.ndindex(g.shape):
            def at(t):
                values = list(case.values)
                x = values[k].copy()
                x[j] += t
                values[k] = x
                return objective(values)
            g[j] = (-at(2 * FD_EPS) + 8 * at(FD_EPS) - 8 * at(-FD_EPS)
                    + at(-2 * FD_EPS)) / (12 * FD_EPS)
        grads.append(g)
    return grads


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=ids)
@TABLE_SETTINGS
@given(data=st.data())
def test_gradient_matches_finite_differences(spec, data):
    case = data.draw(cases(spec), label="case")
    cotangent = case.rng.standard_normal(case.node.shape)
    grads = ad.grad(case.node, case.wrt, previous_grad=cotangent)
    assert len(grads) == len(case.wrt)
    numeric = fd_gradient(case, cotangent)
    values = ad.evaluate(grads)  # one simplification and plan for all of them
    for var, g, value, expected in zip(case.wrt, grads, values, numeric):
        assert g.shape == var.shape, f"gradient shape {g.shape} for {var.describe()}"
        value = np.asarray(value)
        assert value.shape == var.shape
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7,
                                   err_msg=f"gradient wrt {var.name}")


# --- second derivative vs finite differences of numpy --------------------------------------

FD2_EPS = 1e-3


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=ids)
@SECOND_ORDER_SETTINGS
@given(data=st.data())
def test_second_derivative_matches_finite_differences(spec, data):
    """v . H v for F(x) = sum(u * f(x)), symbolic (grad of grad) against a fourth-order
    finite difference of the numpy reference along v."""
    case = data.draw(cases(spec), label="case")
    rng = case.rng
    cotangent = rng.standard_normal(case.node.shape)
    directions = [rng.standard_normal(v.shape) for v in case.wrt]

    firsts = ad.grad(case.node, case.wrt, previous_grad=cotangent)
    seconds = []  # H v = sum_k grad(<grad_k F, v_k>), one term per (k, operand)
    for g, v in zip(firsts, directions):
        for var, second in zip(case.wrt, ad.grad(g, case.wrt, previous_grad=v)):
            assert second.shape == var.shape
            seconds.append(second)
    values = ad.evaluate(seconds)
    n = len(case.wrt)
    symbolic = float(sum(np.sum(np.asarray(h) * directions[i % n])
                         for i, h in enumerate(values)))

    def at(t):
        values = list(case.values)
        for k, v in zip(case.wrt_index, directions):
            values[k] = values[k] + t * v
        return float(np.sum(cotangent * case.reference(values)))

    h = FD2_EPS
    numeric = (-at(2 * h) + 16 * at(h) - 30 * at(0) + 16 * at(-h) - at(-2 * h)) / (12 * h * h)
    scale = max(1.0, abs(at(0)))
    assert abs(symbolic - numeric) <= 1e-5 * max(abs(symbolic), abs(numeric)) + 1e-6 * scale, \
        f"second directional derivative: symbolic {symbolic!r}, numeric {numeric!r}"


# --- the library's own check, orders 1 and 2 ---------------------------------------------

@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=ids)
@SECOND_ORDER_SETTINGS
@given(data=st.data())
def test_check_grad_order_2(spec, data):
    case = data.draw(cases(spec), label="case")
    report = ad.check_grad(case.node, case.wrt, order=2)
    assert [k for k, _, _ in report] == [1, 2]


# --- build-time shape errors ----------------------------------------------------------------

@pytest.mark.parametrize("spec", BROADCASTING, ids=ids)
def test_incompatible_shapes_raise_when_built(spec):
    operands = [ad.Variable(np.ones(shape), name=name)
                for shape, name in [((2, 3), "left"), ((4,), "right")]]
    with pytest.raises(ValueError) as info:
        spec.fn(*operands)
    message = str(info.value)
    assert "(2, 3)" in message and "(4,)" in message, message


# --- the table covers the API -------------------------------------------------------------

def test_table_covers_the_design_names():
    covered = covered_names()
    missing = [n for n in DESIGN_FUNCTIONS + DESIGN_CLASSES + DESIGN_OPERATORS
               if n not in covered]
    assert not missing, f"op table has no spec for: {missing}"
    absent = [n for n in DESIGN_FUNCTIONS + DESIGN_CLASSES if not hasattr(ad, n)]
    assert not absent, f"docs/design.md names missing from autodiff: {absent}"


def test_table_covers_every_public_op():
    """A new public function or op class (from autodiff.ops) exported by autodiff needs a
    spec. Transformations such as checkpoint live elsewhere and are tested elsewhere."""
    covered = covered_names()
    functions = [name for name in dir(ad) if not name.startswith("_")
                 and callable(getattr(ad, name))
                 and getattr(getattr(ad, name), "__module__", "") == "autodiff.ops.functions"]
    classes = [name for name in dir(ad) if not name.startswith("_")
               and isinstance(getattr(ad, name), type)
               and issubclass(getattr(ad, name), ad.Node)
               and getattr(ad, name).__module__.startswith("autodiff.ops")]
    assert "exp" in functions and "Exp" in classes  # the discovery itself works
    # `index` is x[item]; the operator specs cover it.
    covered |= {"index"} if {"operator:[]", "operator:[int-array]"} <= covered else set()
    missing = sorted(n for n in functions + classes if n not in covered)
    assert not missing, f"public ops without a spec in tests/support/op_specs.py: {missing}"


def test_table_names_exist_and_are_unique():
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names))
    for s in SPECS:
        for name in s.covered():
            if not name.startswith("operator:"):
                assert hasattr(ad, name), f"spec {s.name} covers unknown name {name!r}"
        assert s.arity == len(s.domains) >= 1
