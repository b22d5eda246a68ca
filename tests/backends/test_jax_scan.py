"""`ad.scan` on the jax backend (Scan.lower_jax, LoopSplit): the loop runs only the
recurrence, sequence-only work is batched before it, the rest after it, and accumulated
sums become contractions over the steps. Every part of the scan's value (final carries,
stacked outputs, the carries entering each step) and its derivatives agree with the
numpy backend to 1e-12, whatever the loop splits into."""
import numpy as np
import pytest

import autodiff as ad
from autodiff.transforms.scan import ACCUMULATOR, INVARIANT, RECURRENT, SEQUENCE, LoopSplit


def scan_node(*outputs):
    """The Scan node the outputs of one ad.scan call are read from."""
    return next(n for n in ad.topo_sort(list(outputs)) if isinstance(n, ad.Scan))


def assert_backends_agree(outputs, tol=1e-12):
    """The jax and numpy backends give the same values, normwise."""
    want = ad.function(outputs)()
    got = ad.function(outputs, backend="jax")()
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        assert np.max(np.abs(g - w), initial=0.0) <= tol * scale


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return {"w": ad.Variable(rng.standard_normal((4, 5)) * 0.4, name="w"),
            "u": ad.Variable(rng.standard_normal((5, 5)) * 0.4, name="u"),
            "v": ad.Variable(rng.standard_normal((5, 3)), name="v"),
            "xs": ad.Variable(rng.standard_normal((7, 2, 4)), name="xs"),
            "h0": ad.Variable(rng.standard_normal((2, 5)) * 0.1, name="h0"),
            "a0": ad.Variable(rng.standard_normal((4, 5)), name="a0")}


def rnn_with_accumulators(p):
    """A recurrence, an accumulator of two terms (a contraction and a broadcast sum),
    and per-step outputs computed from the recurrence and from the sequence alone."""
    w, u, v = p["w"], p["u"], p["v"]

    def step(carry, x):
        h, acc = carry
        h = ad.tanh(x @ w + h @ u)
        acc = acc + ad.einsum("bi,bj->ij", x, h) + ad.sum(h, axis=0)
        return (h, acc), (h @ v, ad.sum(x * x, axis=1))
    return step


@pytest.mark.parametrize("reverse", [False, True])
def test_the_split_loop_gives_every_part_of_the_scan_value(problem, reverse):
    p = problem
    (h, acc), (out, norms) = ad.scan(rnn_with_accumulators(p), (p["h0"], p["a0"]), p["xs"],
                                     reverse=reverse)
    node = scan_node(h)
    split = LoopSplit(node)
    assert set(split.accumulators) == {1}          # acc is summed after the loop
    loop_ops = {type(n).__name__ for n in split.order if id(n) in split.loop and n.children}
    assert loop_ops == {"Einsum", "Add", "Tanh"}   # h @ u, +, tanh: the recurrence alone
    assert_backends_agree([node, h, acc, out, norms])  # node: the states entering each step


@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_and_second_derivatives_through_the_split_loop(problem, reverse):
    p = problem
    (h, acc), (out, norms) = ad.scan(rnn_with_accumulators(p), (p["h0"], p["a0"]), p["xs"],
                                     reverse=reverse)
    loss = ad.sum(out ** 2) + ad.sum(norms) + ad.sum(acc * acc) + ad.sum(h)
    wrt = [p["w"], p["u"], p["v"], p["xs"], p["h0"], p["a0"]]
    firsts = ad.grad(loss, wrt)  # a scan backwards: its weight gradients are accumulators
    seconds = ad.grad(ad.sum(firsts[0] ** 2) + ad.sum(firsts[1] * firsts[3][0, 0, 0]), wrt)
    assert_backends_agree([loss, *firsts, *seconds], tol=1e-11)


def test_a_loop_of_accumulators_alone_runs_without_a_loop(problem):
    p = problem

    def step(acc, x):
        return acc + ad.einsum("bi,bj->ij", x, x @ p["w"]), ad.tanh(x)
    acc, ys = ad.scan(step, p["a0"] * 1.5, p["xs"])
    split = LoopSplit(scan_node(acc))
    assert not split.loop and split.accumulators == {0: split.accumulators[0]}
    assert_backends_agree([scan_node(acc), acc, ys, *ad.grad(ad.sum(acc) + ad.sum(ys),
                                                             [p["w"], p["xs"]])])


def test_carries_that_do_not_depend_on_a_carry_and_invariant_outputs(problem):
    p = problem

    def step(carry, x):
        h, last = carry
        return (ad.tanh(h @ p["u"]), x * 2.0), (p["v"] * 1.0, last)
    (h, last), (vs, lasts) = ad.scan(step, (p["h0"], p["xs"][0]), p["xs"])
    split = LoopSplit(scan_node(h))
    kinds = {split.kinds[id(y)] for y in split.ys}
    assert kinds == {INVARIANT, RECURRENT}
    assert split.kinds[id(split.new_carries[1])] == SEQUENCE
    assert_backends_agree([scan_node(h), h, last, vs, lasts])


def test_a_carry_read_besides_its_sum_stays_in_the_loop(problem):
    p = problem

    def step(acc, x):
        return acc + ad.sum(x @ p["w"]) * ad.mean(acc), acc  # read twice: not accumulated
    acc, ys = ad.scan(step, p["a0"][0:1], p["xs"])
    split = LoopSplit(scan_node(acc))
    assert not split.accumulators and split.kinds[id(split.carry_places[0])] == RECURRENT
    assert ACCUMULATOR not in split.kinds.values()
    assert_backends_agree([scan_node(acc), acc, ys, *ad.grad(ad.sum(ys), [p["w"]])])


def test_an_op_without_a_batch_rule_joins_the_loop():
    x = ad.Variable(np.array([0.5, -0.3]), name="x")
    m = ad.Variable(np.arange(6.0).reshape(3, 2) / 5, name="m")

    def outer(c, row):  # the inner scan cannot be batched: it runs in the outer loop
        inner, _ = ad.scan(lambda a, v: (a + ad.sin(v * c), None), c, row)
        return inner, inner * x
    final, ys = ad.scan(outer, ad.Variable(0.1, name="c0"), m)
    split = LoopSplit(scan_node(final))
    assert any(isinstance(n, ad.Scan) and id(n) in split.loop for n in split.order)
    assert_backends_agree([final, ys, *ad.grad(final + ad.sum(ys), [m, x])])


def test_the_gradient_loop_recalls_what_the_loop_computed(problem, monkeypatch):
    p = problem
    recalled = []
    batch = LoopSplit._batch_outside_loop

    def spy(self):
        refused = batch(self)
        by_id = {id(n): n for n in self.order}
        recalled.append(sorted(type(by_id[i]).__name__ for i in self.recalled))
        return refused
    monkeypatch.setattr(LoopSplit, "_batch_outside_loop", spy)
    (h, acc), (out, norms) = ad.scan(rnn_with_accumulators(p), (p["h0"], p["a0"]), p["xs"])
    loss = ad.sum(out ** 2) + ad.sum(acc * acc)
    outputs = [loss, *ad.grad(loss, [p["w"], p["u"], p["v"]])]
    got = ad.function(outputs, backend="jax")()
    # the gradient's loop takes the new h (tanh) and h @ v from the loop it differentiates
    assert any({"Tanh", "Einsum"} <= set(names) for names in recalled), recalled
    for g, w in zip(got, ad.function(outputs)()):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)
