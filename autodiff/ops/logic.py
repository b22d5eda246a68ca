"""Selection, comparisons and piecewise-constant ops: where, < <= > >= ==, step, sign,
stop_gradient and cast.

Comparisons give boolean nodes that carry no gradient; `Step` and `Sign` have derivative
zero; `StopGradient` passes its value and blocks the gradient; `Where` sends the
cotangent to the branch taken and an exact zero to the other.
"""
import numpy as np

from ..core.dtypes import float_dtype
from ..core.node import Node, as_nodes

__all__ = ["Where", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "Step", "Sign",
           "StopGradient", "Cast"]


class Where(Node):
    """``Where(cond, a, b)``: a where cond is true, else b (numpy.where).

    No gradient flows to `cond`, and the branch not taken receives an exact zero
    cotangent, so ``where(x > 0, sqrt(x), 0)`` has gradient 0, not NaN, where x <= 0: ops
    with singular derivatives (sqrt, log, 1/x, pow) multiply by that zero strongly. A
    smooth op between the `where` and the singular one (``where(x > 0, sin(log(x)), 0)``)
    meets a NaN *value* it must differentiate, and its gradient there is NaN, as in other
    frameworks: guard the input too (``where(x > 0, sin(log(where(x > 0, x, 1))), 0)``).
    """

    op_label = "where"
    elementwise = finite = True

    def __init__(self, cond, a, b, *, name=None):
        super().__init__(*as_nodes(cond, a, b), name=name)

    def forward(self, cond, a, b):
        return np.where(cond, a, b)

    def kernel(self):
        return np.where

    def lower_jax(self, lowering, cond, a, b):
        return lowering.jnp.where(cond, a, b)

    def vjp(self, g):
        cond = self.children[0]
        return [None, Where(cond, g, 0), Where(cond, 0, g)]


class Comparison(Node):
    """Base of elementwise comparisons: boolean output, no gradient."""

    differentiable = False
    elementwise = finite = True

    def __init__(self, a, b, *, name=None):
        super().__init__(*as_nodes(a, b), name=name)


class Less(Comparison):
    """a < b (boolean)."""
    op_label, ufunc = "<", np.less


class LessEqual(Comparison):
    """a <= b (boolean)."""
    op_label, ufunc = "<=", np.less_equal


class Greater(Comparison):
    """a > b (boolean)."""
    op_label, ufunc = ">", np.greater


class GreaterEqual(Comparison):
    """a >= b (boolean)."""
    op_label, ufunc = ">=", np.greater_equal


class Equal(Comparison):
    """a == b elementwise (boolean). (The `==` operator on nodes stays identity.)"""
    op_label, ufunc = "==", np.equal


class Step(Node):
    """Heaviside step (x > 0) as a float: the derivative of ReLU. Its own derivative is 0."""

    op_label = "step"
    elementwise = finite = True

    def infer_dtype(self, dtype):
        return float_dtype(dtype)

    def forward(self, x):
        return (x > 0).astype(self.dtype)

    def lower_jax(self, lowering, x):
        return (x > 0).astype(self.dtype)

    def vjp(self, g):
        return [None]


class Sign(Node):
    """sign(x) in {-1, 0, 1}; its derivative is 0 (where it exists)."""

    op_label = "sign"
    elementwise = finite = True
    ufunc = np.sign

    def vjp(self, g):
        return [None]


class StopGradient(Node):
    """``StopGradient(x)``: the value of x, with no gradient flowing back into x (a
    constant as far as `grad` is concerned, as jax.lax.stop_gradient and torch's detach)."""

    op_label = "stop_gradient"
    elementwise = finite = True
    returns_view = True

    def forward(self, x):
        return x

    def lower_jax(self, lowering, x):
        return x  # gradients are explicit graph nodes: nothing to stop in the program

    def vjp(self, g):
        return [None]

    def jvp(self, tangents):
        return None


class Cast(Node):
    """Value converted to another dtype (``Cast(x, "float32")``); gradient cast back."""

    op_label = "cast"
    elementwise = finite = linear = True

    def __init__(self, x, dtype, *, name=None):
        super().__init__(x, name=name, to=np.dtype(dtype).str)

    def infer_dtype(self, dtype):
        return np.dtype(self.to)

    def forward(self, x):
        return x.astype(self.to)

    def lower_jax(self, lowering, x):
        return x.astype(self.to)

    def vjp(self, g):
        return [Cast(g, self.children[0].dtype)]
