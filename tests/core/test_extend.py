"""User ops are first-class: ops written the way the README's "Adding an op" shows work
with every transformation, evaluation, rewrite and picture, and the library's own ops
declare every trait the transforms read."""
import numpy as np
import pytest

import autodiff as ad


class Cube(ad.Node):
    """x ** 3, exactly as the README writes it."""

    elementwise = True

    def forward(self, x):
        return x ** 3

    def vjp(self, g):
        x, = self.children
        return [g * 3 * x * x]


class Scale(ad.Node):
    """factor * x: an op with a parameter, its own shape rule, and a derivative rule that
    uses the op itself (so batching it needs the op's own rule or the fallback loop)."""

    def __init__(self, x, factor, *, name=None):
        super().__init__(x, name=name, factor=factor)

    def infer_shape(self, shape):
        return shape

    def forward(self, x):
        return self.factor * x

    def vjp(self, g):
        return [Scale(g, self.factor)]


class SoftClip(ad.Node):
    """tanh(x) with a derivative rule written in terms of the node itself (1 - y**2), and
    no elementwise declaration: transforms must work without it."""

    def forward(self, x):
        return np.tanh(x)

    def vjp(self, g):
        return [g * (1 - self * self)]


def closed_forms(kind, v):
    """(value, first, second, third derivative) of each op applied to sin(x), at v."""
    s, c = np.sin(v), np.cos(v)
    if kind == "cube":  # sin^3
        return (s ** 3, 3 * s ** 2 * c, 6 * s * c ** 2 - 3 * s ** 3,
                6 * c ** 3 - 21 * s ** 2 * c)
    if kind == "scale":  # 2.5 sin
        return 2.5 * s, 2.5 * c, -2.5 * s, -2.5 * c
    t = np.tanh(s)  # tanh(sin)
    d1 = (1 - t ** 2) * c
    d2 = -2 * t * (1 - t ** 2) * c ** 2 - (1 - t ** 2) * s
    d3 = ((-2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2)) * c ** 3
          + 4 * t * (1 - t ** 2) * c * s + 2 * t * (1 - t ** 2) * s * c - (1 - t ** 2) * c)
    return t, d1, d2, d3


BUILDERS = {"cube": lambda v: Cube(v), "scale": lambda v: Scale(v, 2.5),
            "softclip": lambda v: SoftClip(v)}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_user_op_through_every_transformation(kind, tmp_path):
    values = np.array([-1.5, 0.5, 2.0])
    x = ad.Variable(values, name="x")
    y = BUILDERS[kind](ad.sin(x))
    value, d1, d2, d3 = closed_forms(kind, values)

    # grad to order 3, against the closed forms
    g1, = ad.grad(y, [x])
    g2, = ad.grad(g1, [x])
    g3, = ad.grad(g2, [x])
    for node, expected in [(y, value), (g1, d1), (g2, d2), (g3, d3)]:
        np.testing.assert_allclose(node(), expected, rtol=1e-10, atol=1e-12)
    # forward mode, n-th derivative, Jacobian, Hessian, Hessian-vector product
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(ad.jvp(y, [x], [v])[0](), d1 * v, rtol=1e-10)
    np.testing.assert_allclose(ad.derivative(y, x, 3)(), d3, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ad.jacobian(y, x)(), np.diag(d1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ad.hessian(ad.sum(y), x)(), np.diag(d2), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ad.hvp(ad.sum(y), x, v)(), d2 * v, rtol=1e-10, atol=1e-12)
    # rewrites keep values; a compiled function and a checkpoint compute the same
    np.testing.assert_allclose(ad.simplify(g2)(), d2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ad.function([y, g1])()[1], d1, rtol=1e-12)
    checked = ad.checkpoint(lambda u: BUILDERS[kind](ad.sin(u)))(x)
    np.testing.assert_allclose(ad.grad(ad.grad(checked, [x])[0], [x])[0](), d2, rtol=1e-10)
    ad.check_grad(y, [x], order=3)
    # pictures and text
    path = ad.plot_comp_graph([y, g1], tmp_path / f"{kind}.svg")
    assert type(y).__name__ in open(path).read()
    assert type(y).__name__ in ad.pretty(y)


def test_jvp_and_batch_rules_given_by_an_op_are_used():
    calls = []

    class Double(ad.Node):
        """2 x, with its own forward-mode and batching rules."""

        def forward(self, x):
            return 2 * x

        def vjp(self, g):
            return [Double(g)]

        def jvp(self, tangents):
            calls.append("jvp")
            return Double(tangents[0])

        def batch(self, operands, batched, size):
            calls.append("batch")
            return Double(operands[0])

    x = ad.Variable(np.array([1.0, 2.0]), name="x")
    y = Double(x) * x
    np.testing.assert_allclose(ad.jvp(y, [x], [np.ones(2)])[0](), 4 * x.value)
    np.testing.assert_allclose(ad.hessian(ad.sum(y), x)(), 4 * np.eye(2))
    assert "jvp" in calls and "batch" in calls


def test_a_rewrite_rule_registered_for_a_user_op_runs():
    from autodiff.rewrite import EXACT, rule

    class Twice(ad.Node):
        elementwise = True

        def forward(self, x):
            return x + x

        def vjp(self, g):
            return [g * 2]

    @rule("algebra", Twice, level=EXACT)
    def twice_of_zero(rw, node):  # twice(0) -> 0
        x, = node.children
        if isinstance(x, ad.Constant) and not np.any(x.value):
            return x
        return None

    zero = ad.Constant(np.zeros(3))
    assert ad.simplify(Twice(zero)) is not None
    assert isinstance(ad.simplify(Twice(zero) + ad.Variable(np.ones(3), name="v")), ad.Node)
    assert isinstance(ad.simplify(Twice(zero)), ad.Constant)


LIBRARY_OPS = [getattr(ad, name) for name in ad.__all__
               if isinstance(getattr(ad, name), type) and issubclass(getattr(ad, name), ad.Node)
               and getattr(ad, name) not in (ad.Node, ad.Variable, ad.Constant)]


def _declares(cls, trait):
    """Whether the class or one of its bases below Node states `trait` itself."""
    return any(trait in vars(base) for base in cls.__mro__ if base is not ad.Node)


@pytest.mark.parametrize("cls", LIBRARY_OPS, ids=lambda c: c.__name__)
def test_every_library_op_declares_the_traits_transforms_read(cls):
    assert _declares(cls, "elementwise"), f"{cls.__name__} does not say whether it is elementwise"
    assert isinstance(cls.elementwise, bool)
    if cls.differentiable:
        assert _declares(cls, "vjp"), f"{cls.__name__} has no derivative rule"
    assert _declares(cls, "forward") or cls.ufunc is not None, f"{cls.__name__} computes nothing"
    if not cls.elementwise and cls.differentiable and cls is not ad.Checkpoint:
        # batching (jacobian, hessian) needs a rule, or an op known to need the fallback loop
        assert _declares(cls, "batch"), f"{cls.__name__} has no batching rule"


def test_the_trait_test_fails_for_an_op_without_traits():
    class Bare(ad.Node):
        def forward(self, x):
            return x

    assert not _declares(Bare, "elementwise")


@pytest.mark.parametrize("build", [
    lambda x: ad.max(x * x, axis=1), lambda x: ad.prod(x, axis=0, keepdims=True),
    lambda x: ad.logsumexp(x * 3, axis=(0, 1)), lambda x: ad.FrobeniusNorm(x),
    lambda x: ad.SoftmaxCEWithLogits(np.full((2, 3), 1 / 3), x * x),
])
def test_batched_reductions_give_the_hessian_of_the_unbatched_graph(build):
    """Each reduction's batch rule against second differences of its numpy value."""
    x = ad.Variable(np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]]), name="x")
    h = ad.hessian(ad.sum(build(x)), x)().reshape(6, 6)
    f = ad.function(ad.sum(build(x)), inputs=[x])
    base, eps, numeric = x.value.ravel(), 1e-4, np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            def at(di, dj):
                v = base.copy()
                v[i] += di
                v[j] += dj
                return float(f(v.reshape(2, 3)))
            numeric[i, j] = (at(eps, eps) - at(eps, -eps) - at(-eps, eps)
                             + at(-eps, -eps)) / (4 * eps * eps)
    np.testing.assert_allclose(h, numeric, rtol=1e-4, atol=1e-5)
