"""`grad` of a graph rebuilt the same way copies the derivative graph it built last time
(transforms/grad_reuse.py): the copy must be the graph the rules would build, node for
node, with the same marks, and any change the rules would see must make them run again."""
import contextlib
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.core import context
from autodiff.core.node import is_shared_scalar
from autodiff.core.traversal import topo_sort
from autodiff.runtime import evaluation
from autodiff.transforms import grad_reuse


@pytest.fixture
def copies(monkeypatch):
    """Counts the derivative graphs `grad` copies instead of deriving."""
    made = []
    build = grad_reuse.build

    def counted(recipe, order):
        made.append(recipe)
        return build(recipe, order)

    monkeypatch.setattr(grad_reuse, "build", counted)
    grad_reuse.clear()
    evaluation.clear_plan_cache()
    return made


# --- a random program, built again on new values --------------------------------------

OPS = ["add", "mul", "sin", "tanh", "exp", "square", "pow3", "matmul", "sum_rows", "ce",
       "broadcast_add"]


@st.composite
def programs(draw):
    """Instructions over two (4, 3) Variables and a (3, 3) one; each reads earlier values."""
    steps = []
    count = 3
    for _ in range(draw(st.integers(1, 12))):
        op = draw(st.sampled_from(OPS))
        steps.append((op, draw(st.integers(0, count - 1)), draw(st.integers(0, count - 1))))
        count += 1
    wrt = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3))
    return steps, wrt


def build(program, seed):
    """The graph of `program` on values from `seed`: (y, wrt nodes)."""
    steps, wrt = program
    rng = np.random.default_rng(seed)
    nodes = [ad.Variable(rng.uniform(-1, 1, (4, 3)), name="a"),
             ad.Variable(rng.uniform(-1, 1, (4, 3)), name="b"),
             ad.Variable(rng.uniform(-1, 1, (3, 3)), name="m")]
    for op, i, j in steps:
        a, b = nodes[i], nodes[j]
        if a.shape != (4, 3):  # most ops take (4, 3) operands: make one from `a`
            a = ad.sum(a) * nodes[0]
        if b.shape != (4, 3):
            b = nodes[1] * ad.sum(b)
        labels = np.eye(3)[rng.integers(0, 3, 4)]
        nodes.append({
            "add": lambda: a + b, "mul": lambda: a * b, "sin": lambda: ad.sin(a),
            "tanh": lambda: ad.tanh(a), "exp": lambda: ad.exp(a * 0.1),
            "square": lambda: a ** 2, "pow3": lambda: a ** 3,
            "matmul": lambda: a @ nodes[2], "sum_rows": lambda: ad.sum(a, axis=1),
            "ce": lambda: ad.SoftmaxCEWithLogits(labels, a),
            "broadcast_add": lambda: a + ad.sum(b, axis=0),
        }[op]())
    return ad.sum(nodes[-1]), [nodes[k] for k in wrt]


def marks(order, nodes):
    """Each node's structure-independent marks, with nodes named by position in `order`."""
    position = {id(n): i for i, n in enumerate(order)}
    return [(n.scope, position.get(id(n.derivative_of)),
             tuple((position[id(y)], position[id(w)]) for y, w in n.gradient_of))
            for n in nodes]


@settings(max_examples=60, deadline=None)
@given(program=programs(), seeds=st.tuples(st.integers(0, 99), st.integers(100, 199)))
def test_a_copied_derivative_graph_is_the_one_the_rules_build(program, seeds):
    made = []
    build_copy = grad_reuse.build
    grad_reuse.clear()
    try:
        grad_reuse.build = lambda recipe, order: made.append(1) or build_copy(recipe, order)
        for _ in range(2):  # derived by the rules; the second time, a recipe is kept
            y, wrt = build(program, seeds[0])
            ad.grad(y, wrt)
        copied_y, copied_wrt = build(program, seeds[1])
        copied = ad.grad(copied_y, copied_wrt)              # copied
        assert made == [1]
        grad_reuse.clear()
        derived_y, derived_wrt = build(program, seeds[1])
        derived = ad.grad(derived_y, derived_wrt)           # derived again, for comparison
        assert made == [1]
    finally:
        grad_reuse.build = build_copy
    copied_outputs, derived_outputs = [copied_y, *copied], [derived_y, *derived]
    copied_order = topo_sort(copied_outputs + copied_wrt)
    derived_order = topo_sort(derived_outputs + derived_wrt)
    assert evaluation.signature(copied_order, copied_outputs, [], False, False) \
        == evaluation.signature(derived_order, derived_outputs, [], False, False)
    assert marks(copied_order, copied_order) == marks(derived_order, derived_order)
    # (evaluated in orders of their own, sums of derivative terms may add in other orders)
    for c, d in zip(ad.evaluate([copied_y, *copied]), ad.evaluate([derived_y, *derived])):
        np.testing.assert_allclose(c, d, rtol=1e-12, atol=1e-12)


# --- every change the rules would see -------------------------------------------------

def test_a_changed_constant_exponent_is_derived_again(copies):
    x = ad.Variable(np.array([0.5, 2.0]), name="x")
    for k in (2.0, 3.0, 2.0, 3.0, 2.0, 0.5, 0.5, 0.5):
        g, = ad.grad(ad.sum(x ** k), [x])
        np.testing.assert_allclose(g(), k * x.value ** (k - 1))
    assert len(copies) == 2  # the third 2.0 and the third 0.5


def test_a_constant_turning_infinite_is_derived_again(copies):
    # the cotangent of x in x * c is g * c: a plain product while c is finite, a
    # strong-zero one (0 where g is 0, whatever c is) once c holds an inf
    x = ad.Variable(np.array([0.5, 3.0]), name="x")
    finite, infinite = np.array([2.0, 1.0]), np.array([np.inf, 1.0])
    for c in (finite, finite, finite, infinite, infinite, infinite, finite):
        g, = ad.grad(ad.sum(ad.where(x > 1, x * ad.Constant(c), 0.0)), [x])
        np.testing.assert_array_equal(g(), [0.0, 1.0])
    # derived: the first two steps, the first infinite one (the recipe does not fit; a
    # recipe for it replaces the finite one) and the last; copied: the three others
    assert len(copies) == 3


@pytest.mark.parametrize("rows", ["one-hot, then not", "not, then one-hot"])
def test_labels_summing_to_one_or_not_are_derived_again(copies, rows):
    logits = ad.Variable(np.array([[0.2, -1.0, 3.0], [1.0, 0.0, -2.0]]), name="logits")
    one_hot, weights = np.eye(3)[[2, 0]], np.array([[0.5, 0.0, 1.0], [0.0, 2.0, 0.0]])
    sequence = [one_hot, weights] if rows.startswith("one") else [weights, one_hot]
    for labels in sequence * 3:
        g, = ad.grad(ad.sum(ad.SoftmaxCEWithLogits(labels, logits)), [logits])
        p = np.exp(logits.value) / np.exp(logits.value).sum(-1, keepdims=True)
        np.testing.assert_allclose(g(), p * labels.sum(-1, keepdims=True) - labels)
    assert len(copies) == 2  # the fifth and sixth copy the third and fourth


@pytest.mark.parametrize("change", ["op", "shape", "dtype", "wrt order", "wrt unused"])
def test_a_changed_structure_is_derived_again(copies, change):
    base = np.linspace(-1, 1, 6).reshape(2, 3)
    w = ad.Variable(np.linspace(0.1, 0.6, 6).reshape(3, 2), name="w")
    z = ad.Variable(np.array([1.0, -2.0]), name="z")
    unused = ad.Variable(np.ones(5), name="unused")
    plain = dict(x=base, op=ad.tanh, wrt=[w, z])
    other = {"op": dict(op=ad.sin), "shape": dict(x=base[:1]),
             "dtype": dict(x=base.astype(np.float32)), "wrt order": dict(wrt=[z, w]),
             "wrt unused": dict(wrt=[w, unused])}[change]
    for step in range(6):
        kwargs = dict(plain, **(other if step % 2 else {}))
        x = kwargs["x"]
        grads = ad.grad(ad.sum(kwargs["op"](ad.Constant(x) @ w) * z), kwargs["wrt"])
        fn, dfn = {ad.tanh: (np.tanh, lambda v: 1 - np.tanh(v) ** 2),
                   ad.sin: (np.sin, np.cos)}[kwargs["op"]]
        h = x @ w.value
        expected = {w: x.T @ (dfn(h) * z.value), z: fn(h).sum(0), unused: np.zeros(5)}
        for wrt, g in zip(kwargs["wrt"], grads):
            assert g.shape == wrt.shape
            np.testing.assert_allclose(g(), expected[wrt], rtol=1e-6)
    assert len(copies) == 2  # steps 4 and 5 copy steps 2 and 3


def test_gradients_are_marked_as_the_rules_mark_them(copies):
    x = ad.Variable(np.array([0.3, 0.8]), name="x")
    unused = ad.Variable(np.ones(3), name="unused")
    for step in range(6):
        y = ad.sum(ad.tanh(x) * 3.0)
        scope = ("outer", f"step{step}") if step % 2 else ()
        with contextlib.ExitStack() as stack:
            for name in scope:
                stack.enter_context(context.scope(name))
            gx, gu = ad.grad(y, [x, unused])
        assert gx.gradient_of == ((y, x),) and gu.gradient_of == ((y, unused),)
        assert gx.derived_by[0] is ad.grad and gx.derived_by[3] == (0,)
        forward = set(map(id, topo_sort([y])))
        assert {n.scope for n in topo_sort([gx, gu]) if id(n) not in forward
                and not is_shared_scalar(n)} == {scope}
        np.testing.assert_array_equal(gu(), np.zeros(3))
    assert len(copies) == 4


# --- what is not reused ---------------------------------------------------------------

class Cube(ad.Node):
    """A user's op: its rule is not known to read only the structure."""

    calls = 0

    def forward(self, x):
        return x ** 3

    def vjp(self, g):
        Cube.calls += 1
        return [g * 3.0 * self.children[0] ** 2]


class DeclaredCube(Cube):
    """The same op, declaring that its rule reads only the structure."""

    def vjp_facts(self):
        return ()


@pytest.mark.parametrize("op, rule_runs", [(Cube, 4), (DeclaredCube, 2)])
def test_a_user_op_is_derived_by_its_rule_unless_it_declares_what_it_reads(copies, op,
                                                                           rule_runs):
    Cube.calls = 0
    x = ad.Variable(np.array([1.0, 2.0]), name="x")
    for _ in range(4):
        g, = ad.grad(ad.sum(op(x)), [x])
        np.testing.assert_allclose(g(), 3 * x.value ** 2)
    assert Cube.calls == rule_runs


def test_nested_derivatives_and_seeded_gradients_run_the_rules(copies):
    x = ad.Variable(np.array([0.3, 0.8]), name="x")
    for _ in range(3):
        y = ad.sum(ad.sin(x))
        d2, = ad.grad(ad.grad(y, [x])[0], [x])
        np.testing.assert_allclose(d2(), -np.sin(x.value))
        seeded, = ad.grad(ad.sin(x), [x], previous_grad=np.array([2.0, 3.0]))
        np.testing.assert_allclose(seeded(), [2.0, 3.0] * np.cos(x.value))
    assert len(copies) == 1  # the first-order grad of the third step only


def test_a_recipe_keeps_no_graph_alive(copies):
    w = ad.Variable(np.ones(3), name="w")
    for _ in range(3):
        y = ad.sum(ad.tanh(w * ad.Constant(np.arange(3.0))))
        g, = ad.grad(y, [w])
        ad.evaluate([y, g])
    alive = weakref.ref(y)
    del y, g
    evaluation.clear_plan_cache()  # plans hold graphs; recipes must not
    gc.collect()
    assert alive() is None
    assert len(copies) == 1


# --- evaluating a copied graph --------------------------------------------------------

def test_a_copied_graph_evaluates_like_any_other_with_its_outputs_in_any_selection(copies):
    w = ad.Variable(np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]]), name="w")
    b = ad.Variable(np.array([0.1, -0.1]), name="b")
    x_value = np.linspace(-1, 1, 12).reshape(4, 3)
    for step in range(4):
        x = ad.Variable(x_value + step, name="x")
        h = ad.tanh(x @ w + b)
        y = ad.sum(h * h)
        gw, gb = ad.grad(y, [w, b])
        t = np.tanh(x.value @ w.value + b.value)
        dh = 2 * t * (1 - t ** 2)
        expected = {"y": (t * t).sum(), "gw": x.value.T @ dh, "gb": dh.sum(0), "h": t}
        for names in (["y", "gw", "gb"], ["gb", "h", "y", "gw"], ["gw"], ["y", "gb"], ["h"]):
            node = dict(y=y, gw=gw, gb=gb, h=h)
            outputs = [node[n] for n in names]
            for name, value in zip(names, ad.evaluate(outputs)):
                np.testing.assert_allclose(value, expected[name], rtol=1e-12)
            _, plan, _ = evaluation._by_nodes[next(reversed(evaluation._by_nodes))]
            assert len(plan.nodes) == len(topo_sort(outputs))  # nothing else computed
        fed = x_value * 2  # a feed of a copied graph's input
        np.testing.assert_allclose(
            ad.evaluate([y, gw, gb], {x: fed})[2],
            (2 * np.tanh(fed @ w.value + b.value) * (1 - np.tanh(fed @ w.value + b.value) ** 2)
             ).sum(0))
    assert len(copies) == 2


def test_a_model_rebuilt_every_step_gets_gradients_that_match_finite_differences(copies):
    """nn layers (a fresh dropout mask, a layer norm, new integer labels) rebuilt every
    step: the copied gradients are checked against finite differences on each step."""
    rng = np.random.default_rng(0)
    model = ad.nn.Sequential(ad.nn.Linear(4, 6, rng=1), ad.nn.Dropout(0.3, rng=2),
                             ad.nn.Tanh(), ad.nn.LayerNorm(6), ad.nn.Linear(6, 3, rng=3))
    params = list(model.parameters())
    for _ in range(4):
        x = rng.standard_normal((5, 4))
        labels = rng.integers(0, 3, 5)
        loss = ad.nn.softmax_cross_entropy(model(ad.Constant(x)), labels)
        ad.check_grad(loss, params, order=1)
    assert len(copies) == 2
