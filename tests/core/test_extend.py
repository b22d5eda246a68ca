"""A user-defined op, written the way the README shows, works with every transformation."""
import numpy as np

import autodiff as ad


class Cube(ad.Node):
    """x ** 3, as a user would add it."""

    def forward(self, x):
        return x ** 3

    def vjp(self, g):
        x, = self.children
        return [g * 3 * x * x]


class Scale(ad.Node):
    """factor * x: an op with a declared parameter and its own shape rule."""

    def __init__(self, x, factor, name=None):
        super().__init__(x, factor=factor, name=name)

    def infer_shape(self, shape):
        return shape

    def forward(self, x):
        return self.factor * x

    def vjp(self, g):
        return [Scale(g, self.factor)]


def test_user_op_third_derivative_matches_closed_form():
    x = ad.Variable(np.array([-1.5, 0.5, 2.0]), name="x")
    y = Cube(ad.sin(x))
    d1, = ad.grad(y, [x])
    d2, = ad.grad(d1, [x])
    d3, = ad.grad(d2, [x])
    s, c = np.sin(x.value), np.cos(x.value)
    # y = sin^3: y' = 3 s^2 c, y'' = 6 s c^2 - 3 s^3, y''' = 6 c^3 - 21 s^2 c
    assert np.allclose(d1(), 3 * s ** 2 * c)
    assert np.allclose(d2(), 6 * s * c ** 2 - 3 * s ** 3)
    assert np.allclose(d3(), 6 * c ** 3 - 21 * s ** 2 * c)
    ad.check_grad(y, [x], order=3)


def test_user_op_with_parameters():
    x = ad.Variable(np.arange(3.0), name="x")
    y = Scale(x, 2.5, name="scaled")
    assert y.factor == 2.5 and y.shape == (3,)
    assert np.allclose(y(), 2.5 * np.arange(3.0))
    assert np.allclose(ad.grad(ad.sum(y * y), [x])[0](), 2 * 2.5 ** 2 * np.arange(3.0))
    assert repr(y) == "<Scale scaled shape=(3,) float64>"
    f = ad.function(ad.grad(Scale(x, 2.0) ** 2, [x])[0])
    assert np.allclose(f(), 8 * np.arange(3.0))
