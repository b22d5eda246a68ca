"""The check before the rewrite passes (`nothing_to_rewrite`): a graph it passes over
comes back as the same nodes, and it never passes over a graph the passes would change."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
from autodiff.core.gcpause import gc_paused
from autodiff.ops.arithmetic import Subtract
from autodiff.rewrite import rewrite_for_evaluation, rewrite_with_order
from autodiff.rewrite.engine import program_level, walk
from autodiff.rewrite.simplify import nothing_to_rewrite, run_passes


@pytest.fixture
def x():
    return ad.Variable(np.array([0.5, -1.25, 2.0]), name="x")


def checked(outputs):
    """Whether the check passes over `outputs`."""
    return nothing_to_rewrite(list(outputs), program_level())


def test_a_forward_graph_with_nothing_to_do_comes_back_as_the_same_nodes(x):
    w = ad.Variable(np.array([1.5, 2.0, -0.5]), name="w")
    y = ad.sin(x * w) + ad.exp(ad.tanh(x)) * 2.0
    z = ad.sum(y * y)
    assert checked([y, z])
    out = rewrite_for_evaluation([y, z])
    assert out[0] is y and out[1] is z
    assert rewrite_for_evaluation(z) is z


def test_a_function_of_such_a_graph_runs_the_nodes_as_given(x):
    y = ad.sin(ad.cos(x)) * x
    f = ad.function([y])
    assert f.outputs[0] is y
    np.testing.assert_array_equal(f()[0], np.sin(np.cos(x.value)) * x.value)


@pytest.mark.parametrize("build", [
    lambda x: ad.sin(x) + ad.sin(x),                          # a duplicate to share
    lambda x: ad.sin(x) * ad.Constant(2.0) + ad.Constant(2.0) * ad.cos(x),  # equal constants
    lambda x: x + ad.exp(ad.Constant(1.0)),                   # a constant to fold
    lambda x: ad.sin(x * 1.0),                                # x*1
    lambda x: ad.negative(ad.negative(ad.sin(x))),            # --x
    lambda x: ad.reshape(ad.reshape(x, (3, 1)), (1, 3)),      # reshape of reshape
    lambda x: ad.tanh(x) * ad.tanh(x) + x * x,                # a duplicate tanh
])
def test_a_graph_with_something_to_do_is_still_rewritten(x, build):
    y = build(x)
    assert not checked([y])
    out = rewrite_for_evaluation(y)
    assert out is not y
    assert ad.graph_size(out) < ad.graph_size(y)
    np.testing.assert_allclose(ad.evaluate(out, simplify=False),
                               ad.evaluate(y, simplify=False))


def test_derivatives_go_through_the_passes(x):
    y = ad.sin(x)
    g, = ad.grad(ad.sum(y), [x])
    assert not checked([g])
    assert not checked([y, g])


@st.composite
def forward_graphs(draw):
    """Random forward graphs over two Variables, with constants (ones among them),
    negations, reshapes and repeated subexpressions now and then."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    nodes = [ad.Variable(rng.standard_normal(3), name="a"),
             ad.Variable(rng.standard_normal(3), name="b")]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["add", "mul", "sin", "neg", "const", "reshape", "fold"]))
        i = draw(st.integers(0, len(nodes) - 1))
        j = draw(st.integers(0, len(nodes) - 1))
        a, b = nodes[i], nodes[j]
        if kind == "add":
            nodes.append(a + b)
        elif kind == "mul":
            nodes.append(a * b)
        elif kind == "sin":
            nodes.append(ad.sin(a))
        elif kind == "neg":
            nodes.append(ad.negative(a))
        elif kind == "const":
            nodes.append(a * ad.Constant(draw(st.sampled_from([1.0, 2.0, -1.0]))))
        elif kind == "reshape":
            nodes.append(ad.reshape(ad.reshape(a, (3, 1)), (3,)))
        else:
            nodes.append(a + ad.sin(ad.Constant(draw(st.sampled_from([0.5, 1.0])))))
    outs = sorted(set(draw(st.lists(st.integers(2, len(nodes) - 1), max_size=3)))
                  | {len(nodes) - 1})
    return [nodes[k] for k in outs]


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(forward_graphs())
def test_the_check_passes_over_exactly_what_the_passes_leave_alone(outputs):
    with gc_paused():
        rewritten, _ = run_passes(outputs, program_level())
        unchanged = all(a is b for a, b in zip(rewritten, outputs))
    if checked(outputs):
        assert unchanged
    # the check is exact on graphs of these ops: it misses no graph with nothing to do
    assert checked(outputs) == unchanged


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(forward_graphs(), st.booleans())
def test_the_order_returned_with_a_rewrite_is_a_topological_order(outputs, derive):
    if derive:
        a = ad.topo_sort(outputs)[0]  # a Variable: the first leaf
        outputs = [*outputs, *ad.grad(ad.sum(outputs[-1] * outputs[-1]), [a])]
    given_order = ad.topo_sort(outputs)
    for order in (None, given_order):
        rewritten, got = rewrite_with_order(outputs, order=order)
        assert is_topological_order_of(got, rewritten)
        assert [id(n) for n in walk(outputs)[0]] == [id(n) for n in given_order]


def test_the_order_returned_with_a_lowered_derivative_is_a_topological_order():
    # the second derivative of a sin chain: lowering replaces a sum with a negation by
    # a subtraction at every level, and the negations drop out of the graph
    x = ad.Variable(np.linspace(-2, 2, 5), name="x")
    y = x
    for _ in range(40):
        y = ad.sin(y)
    d2 = ad.grad(ad.grad(y, [x])[0], [x])[0]
    rewritten, got = rewrite_with_order([d2])
    assert sum(isinstance(n, Subtract) for n in got) > 30
    assert is_topological_order_of(got, rewritten)
    np.testing.assert_allclose(ad.evaluate(rewritten[0], simplify=False),
                               ad.evaluate(d2, simplify=False), rtol=1e-12)


def is_topological_order_of(order, outputs):
    """Whether `order` holds each node of the graph of `outputs` once, children first."""
    position = {id(n): i for i, n in enumerate(order)}
    graph = ad.topo_sort(outputs)
    return len(order) == len(position) == len(graph) \
        and all(id(n) in position for n in graph) \
        and all(position[id(c)] < position[id(n)] for n in order for c in n.children)
