"""Nodes, leaves, evaluation and compiled functions: the "Graph" part of the design."""
import numpy as np
import pytest

import autodiff as ad


def test_contract_example_values():
    x = ad.Variable(3, name="x")
    y = ad.Variable(4, name="y")
    z = x * y + ad.Exp(x + 3)
    assert np.isclose(z(), 12 + np.e ** 6)
    gx, = ad.grad(z, [x])
    assert np.isclose(gx(), 4 + np.e ** 6)
    assert np.isclose(ad.grad(gx, [x])[0](), np.e ** 6)
    x.value = 5  # every node depending on x sees the new value
    assert np.isclose(z(), 20 + np.e ** 8)
    assert np.isclose(gx(), 4 + np.e ** 8)


def test_shapes_and_dtypes_are_known_when_built():
    a = ad.Variable(np.ones((2, 3)), name="a")
    b = ad.Variable(np.ones(3, dtype=np.float32), name="b")
    c = a * b + 1
    assert c.shape == (2, 3) and c.dtype == np.float64
    assert (b * 2).dtype == np.float32  # Python scalars do not promote float32
    assert (a @ ad.Variable(np.ones((3, 4)))).shape == (2, 4)
    assert (a < 1).dtype == np.bool_


def test_variables_store_floats_and_copy():
    value = np.arange(3)
    v = ad.Variable(value)
    assert v.dtype == np.float64
    value[0] = 99
    assert v()[0] == 0


def test_comparisons_are_nodes_and_equality_is_identity():
    x = ad.Variable(np.array([1.0, 2.0, 3.0]), name="x")
    assert np.array_equal((x < 2)(), [True, False, False])
    assert np.array_equal((x >= 2)(), [False, True, True])
    assert (x == x) is True and (x == ad.Variable(1.0)) is False
    d = {x: 1}
    assert d[x] == 1
    g, = ad.grad(ad.where(x > 1.5, x * x, -x), [x])
    assert np.array_equal(g(), [-1.0, 4.0, 6.0])


def test_truth_value_is_refused():
    x = ad.Variable(1.0, name="x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)


def test_repr_shows_a_short_expression_and_what_a_gradient_differentiates():
    x, y = ad.Variable(3.0, name="x"), ad.Variable(np.ones((2, 3)), name="y")
    z = ad.Add(y, 1.0, name="z")
    assert repr(z) == "<Add z: y + 1, shape=(2, 3) float64>"
    assert repr(x) == "<Variable x shape=() float64>"
    f = x * 2.0 + ad.exp(x)
    gx, = ad.grad(f, [x])
    assert repr(gx).startswith("<grad of x*2 + exp(x) wrt x: ")
    assert repr(ad.simplify(gx)).startswith("<grad of x*2 + exp(x) wrt x: ")
    deep = x
    for _ in range(40):  # too many nodes for an expression: op, shape and dtype only
        deep = ad.sin(deep)
    assert repr(deep) == "<Sin shape=() float64>"
    gdeep, = ad.grad(deep, [x])
    assert repr(gdeep).startswith("<grad of <Sin> wrt x, shape=() float64")


def test_values_are_never_stale():
    x = ad.Variable(np.array([1.0, 2.0]), name="x")
    y = ad.sum(x * x)
    f = ad.function(y)
    assert y() == 5 and f() == 5
    x.value = np.array([3.0, 4.0])
    assert y() == 25 and f() == 25
    assert ad.evaluate(y, feed={x: np.array([1.0, 1.0])}) == 2
    assert y() == 25  # feed is for that call only


def test_an_update_in_place_is_seen_and_the_value_stays_the_variables_own():
    start = np.array([1.0, 2.0])
    x = ad.Variable(start, name="x")
    y = ad.sum(x * x)
    f = ad.function(y)
    assert f() == 5
    for step in range(1, 3):
        x.value -= 0.5  # as in a hand-written SGD step
        assert y() == f() == ad.evaluate(y) == np.sum((start - 0.5 * step) ** 2)
    np.testing.assert_array_equal(start, [1.0, 2.0])  # the array given was copied
    given = np.array([5.0, 6.0])
    x.value = given
    given[:] = 0  # an array set from outside is still copied
    assert f() == 61


def test_setting_a_value_of_another_shape_is_refused():
    x = ad.Variable(np.zeros(3), name="x")
    with pytest.raises(ValueError, match=r"x \(3,\).*shape \(4,\)"):
        x.value = np.zeros(4)


def test_evaluate_computes_shared_parts_once():
    calls = []

    class Counted(ad.Node):
        def forward(self, x):
            calls.append(1)
            return x + 1

        def vjp(self, g):
            return [g]

    x = ad.Variable(np.ones(2))
    shared = Counted(x)
    a, b = ad.evaluate([shared * 2, shared * 3])
    assert np.array_equal(a, [4, 4]) and np.array_equal(b, [6, 6])
    assert len(calls) == 1


def test_results_are_the_callers_to_change():
    x = ad.Variable(np.ones(3), name="x")
    f = ad.function(ad.grad(ad.sum(x * 2.0), [x]))
    g, = f()
    g *= 100  # an in-place update of a result must not reach later calls
    assert np.array_equal(f()[0], [2, 2, 2])
    value, = ad.function([x])()
    value += 1
    assert np.array_equal(x.value, [1, 1, 1])


def test_function_takes_inputs_in_order_and_reads_other_variables():
    w = ad.Variable(np.array([1.0, 2.0]), name="w")
    xb = ad.Variable(np.zeros(2), name="xb")
    yb = ad.Variable(np.zeros(()), name="yb")
    loss = (ad.dot(xb, w) - yb) ** 2
    gw, = ad.grad(loss, [w])
    f = ad.function([loss, gw], inputs=[xb, yb])
    value, grad = f(np.array([1.0, 1.0]), 1.0)
    assert value == 4 and np.allclose(grad, [4, 4])
    w.value = np.array([0.0, 0.0])
    value, _ = f(np.array([1.0, 1.0]), 1.0)
    assert value == 1
    with pytest.raises(TypeError, match="takes 2 input"):
        f(np.ones(2))
    with pytest.raises(ValueError, match="xb"):
        f(np.ones(3), 1.0)


def test_function_frees_intermediates_after_last_use():
    x = ad.Variable(np.ones(4), name="x")
    a = ad.exp(x)
    b = ad.sin(a)
    c = ad.cos(b) + x
    f = ad.Function(c, simplify=False)  # the schedule of exactly this graph
    holder, freed_after = {}, {}  # slot -> node whose value it holds; node -> step freeing it
    for slot, _, position in f.leaves:  # the leaves, by their place in the graph as given
        holder[slot] = f.original_nodes[position]
    for _, _, out, free, node in f.steps:
        holder[out] = node
        for s in free:
            freed_after[id(holder[s])] = node
    # exp's value is dropped right after sin, sin's after cos; the output is never dropped
    assert freed_after[id(a)] is b
    assert freed_after[id(b)].children[0] is b
    assert id(c) not in freed_after
    assert np.allclose(f(), np.cos(np.sin(np.exp(1.0))) + 1)


def test_function_reuses_buffer_slots():
    x = ad.Variable(np.ones(3), name="x")
    y = x
    for _ in range(50):
        y = ad.sin(y)
    f = ad.Function(y, simplify=False)
    assert f.size <= 3  # a chain needs its input, one value and the next, not 51 slots
    assert np.allclose(f(), np.full(3, _sin_n(1.0, 50)))


def _sin_n(v, n):
    for _ in range(n):
        v = np.sin(v)
    return v


def test_long_chain_without_recursion():
    x = ad.Variable(0.5, name="x")
    y = x
    for i in range(100_000):
        y = ad.sin(y) if i % 2 else y * 1.0000001
    expected, slope = 0.5, 1.0
    for i in range(100_000):
        if i % 2:
            slope *= np.cos(expected)
            expected = np.sin(expected)
        else:
            expected *= 1.0000001
            slope *= 1.0000001
    assert np.isclose(y(), expected, rtol=1e-10)
    g, = ad.grad(y, [x])
    assert np.isclose(g(), slope, rtol=1e-8)
    assert ad.graph_size(y) == 100_002  # 100k ops, x, and the one constant 1.0000001 shared


def test_evaluation_errors_name_the_node():
    class Broken(ad.Node):
        def forward(self, x):
            raise FloatingPointError("boom")

    x = ad.Variable(1.0, name="x")
    with pytest.raises(ad.EvaluationError, match="Broken.*boom"):
        (Broken(x, name="bad") + 1)()


def test_compiled_calls_match_the_first_and_still_name_a_failing_node():
    """From its second call a Function runs generated code; same values, same errors."""
    class FailsOnNegative(ad.Node):
        def infer_dtype(self, dtype):
            return dtype

        def forward(self, x):
            if (x < 0).any():
                raise ValueError("negative input")
            return np.sqrt(x)

        def vjp(self, g):
            return [g / (2 * self)]

    x = ad.Variable(np.array([1.0, 4.0]), name="x")
    y = ad.exp(FailsOnNegative(x)) * x + ad.Add(x, x, x, x, x)  # a long sum: running totals
    f = ad.function([y, ad.grad(ad.sum(y), [x])[0]])
    first = f()
    for _ in range(2):
        again = f()
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
    assert f._compiled is not None
    x.value = np.array([1.0, -4.0])
    with pytest.raises(ad.EvaluationError, match="FailsOnNegative.*negative input"):
        f()


def test_non_numeric_values_are_refused_when_built():
    with pytest.raises(TypeError, match="numeric"):
        ad.Variable("abc")
    with pytest.raises(TypeError):
        ad.Variable(np.ones(2)) + "a"
