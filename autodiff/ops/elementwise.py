"""Elementwise ops: arithmetic, transcendental functions, activations, comparisons, where.

Every derivative rule below is written with these same ops, so it can be differentiated
again. Inputs broadcast like numpy; a rule may return a cotangent of the output's shape,
because the gradient transform sums broadcasting away in one place.

Rules whose local derivative can be infinite or NaN (1/x, log, sqrt, pow, exp) multiply
the cotangent with a *strong zero* product (`Mul(g, d, strong_zero=True)`): where the
cotangent is exactly 0 the product is 0 even if `d` is inf or NaN. That is what keeps the
branch not taken by `where` from leaking NaN into a gradient (``where(x > 0, sqrt(x), 0)``
has gradient 0, not NaN, at x <= 0).
"""
import numpy as np

from ..core.node import Node, as_nodes


def strong_mul(g, d):
    """``g * d`` where a zero `g` gives zero even when `d` is inf or NaN."""
    return Mul(g, d, strong_zero=True)


class Add(Node):
    """Sum of any number of operands: ``Add(a, b, c)`` is a + b + c."""

    op_label = "+"
    commutative = True  # for two operands; longer sums keep their operand order in their key

    def __init__(self, *operands, name=None):
        if not operands:
            raise ValueError("Add needs at least one operand")
        super().__init__(*as_nodes(*operands), name=name)

    def kernel(self):
        if len(self.children) == 2:
            return np.add
        return self.forward

    def forward(self, *values):
        total = values[0] + values[1] if len(values) > 1 else +values[0]
        for v in values[2:]:
            total = total + v
        return total

    def vjp(self, g):
        return [g] * len(self.children)


class Subtract(Node):
    """a - b."""

    op_label = "-"

    def __init__(self, a, b, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def kernel(self):
        return np.subtract

    def vjp(self, g):
        return [g, Negate(g)]


class Mul(Node):
    """a * b. With ``strong_zero=True``, an exactly-zero `a` gives 0 whatever `b` is."""

    op_label = "*"

    def __init__(self, a, b, name=None, strong_zero=False):
        if strong_zero:
            super().__init__(*as_nodes(a, b), name=name, strong_zero=True)
        else:
            super().__init__(*as_nodes(a, b), name=name)

    @property
    def commutative(self):
        """a*b is b*a bit for bit for real numbers, unless a zero `a` is strong. (numpy's
        vectorised complex product can differ in the last bit when swapped.)"""
        return not self.params.get("strong_zero") and self.dtype.kind != "c"

    def kernel(self):
        return _strong_zero_multiply if self.params.get("strong_zero") else np.multiply

    def vjp(self, g):
        a, b = self.children
        if self.params.get("strong_zero"):
            return [strong_mul(g, b), strong_mul(a, g)]
        return [strong_mul(g, b), strong_mul(g, a)]


def _strong_zero_multiply(a, b):
    product = np.multiply(a, b)
    # Fast path: only a NaN in the result can come from 0 * inf or 0 * NaN.
    if product.dtype.kind in "fc" and np.isnan(np.sum(product)):
        product = np.where(a == 0, np.zeros((), product.dtype), product)
    return product


class Negate(Node):
    """-x."""

    op_label = "neg"

    def kernel(self):
        return np.negative

    def vjp(self, g):
        return [Negate(g)]


class Recipr(Node):
    """1 / x, exactly (no epsilon)."""

    op_label = "1/"

    def kernel(self):
        return np.reciprocal

    def vjp(self, g):
        return [strong_mul(g, Negate(Mul(self, self)))]


class Divide(Node):
    """a / b."""

    op_label = "/"

    def __init__(self, a, b, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def kernel(self):
        return np.divide

    def vjp(self, g):
        a, b = self.children
        g_over_b = strong_mul(g, Recipr(b))
        return [g_over_b, Negate(strong_mul(g_over_b, self))]


class Pow(Node):
    """a ** b, for node or constant exponents."""

    op_label = "**"

    def __init__(self, a, b, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def kernel(self):
        from ..core.node import Constant
        exponent = self.children[1]
        if isinstance(exponent, Constant) and exponent.value.ndim == 0:
            p = exponent.value.item()
            fast = {1: _identity, 2: np.square, 0.5: np.sqrt, -1: np.reciprocal}.get(p)
            if fast is not None:
                return lambda a, b: fast(a)
        return np.power

    def vjp(self, g):
        from ..core.node import Constant
        a, b = self.children
        if isinstance(b, Constant):
            b_minus_1 = Constant(b.value - 1, dtype=b.dtype)
        else:
            b_minus_1 = Subtract(b, 1)
        da = strong_mul(g, Mul(b, Pow(a, b_minus_1)))
        db = strong_mul(g, Mul(Log(a), self))
        return [da, db]


def _identity(x):
    return x


class Exp(Node):
    """e ** x."""

    op_label = "exp"

    def kernel(self):
        return np.exp

    def vjp(self, g):
        return [strong_mul(g, self)]


class Expm1(Node):
    """e ** x - 1, accurate near 0."""

    op_label = "expm1"

    def kernel(self):
        return np.expm1

    def vjp(self, g):
        return [strong_mul(g, Add(self, 1))]


class Log(Node):
    """Natural logarithm, exactly (no epsilon)."""

    op_label = "log"

    def kernel(self):
        return np.log

    def vjp(self, g):
        return [strong_mul(g, Recipr(self.children[0]))]


class Log1p(Node):
    """log(1 + x), accurate near 0."""

    op_label = "log1p"

    def kernel(self):
        return np.log1p

    def vjp(self, g):
        return [strong_mul(g, Recipr(Add(self.children[0], 1)))]


class Sqrt(Node):
    """Square root."""

    op_label = "sqrt"

    def kernel(self):
        return np.sqrt

    def vjp(self, g):
        return [strong_mul(g, Mul(0.5, Recipr(self)))]


class Abs(Node):
    """|x|; its derivative is sign(x) (0 at 0)."""

    op_label = "abs"

    def kernel(self):
        return np.abs

    def vjp(self, g):
        return [Mul(g, Sign(self.children[0]))]


class Sin(Node):
    """sin(x)."""

    op_label = "sin"

    def kernel(self):
        return np.sin

    def vjp(self, g):
        return [Mul(g, Cos(self.children[0]))]


class Cos(Node):
    """cos(x)."""

    op_label = "cos"

    def kernel(self):
        return np.cos

    def vjp(self, g):
        return [Negate(Mul(g, Sin(self.children[0])))]


class Tan(Node):
    """tan(x); derivative 1 + tan(x)**2."""

    op_label = "tan"

    def kernel(self):
        return np.tan

    def vjp(self, g):
        return [strong_mul(g, Add(1, Mul(self, self)))]


class Tanh(Node):
    """tanh(x); derivative 1 - tanh(x)**2, written in terms of this node's value."""

    op_label = "tanh"

    def kernel(self):
        return np.tanh

    def vjp(self, g):
        return [Mul(g, Subtract(1, Mul(self, self)))]


class Sigmoid(Node):
    """1 / (1 + e**-x), computed without overflow; derivative s * (1 - s)."""

    op_label = "sigmoid"

    def forward(self, x):
        z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))

    def vjp(self, g):
        return [Mul(g, Mul(self, Subtract(1, self)))]


class Softplus(Node):
    """log(1 + e**x), computed without overflow; derivative sigmoid(x)."""

    op_label = "softplus"

    def forward(self, x):
        return np.logaddexp(0, x)

    def vjp(self, g):
        return [Mul(g, Sigmoid(self.children[0]))]


class ReLU(Node):
    """max(x, 0); derivative is the step function (x > 0), second derivative 0."""

    op_label = "relu"

    def forward(self, x):
        return np.maximum(x, 0)

    def vjp(self, g):
        return [Mul(g, Step(self.children[0]))]


class Step(Node):
    """Heaviside step (x > 0) as a float: the derivative of ReLU. Its own derivative is 0."""

    op_label = "step"

    def forward(self, x):
        return (x > 0).astype(self.dtype)

    def vjp(self, g):
        return [None]


class Sign(Node):
    """sign(x) in {-1, 0, 1}; its derivative is 0 (where it exists)."""

    op_label = "sign"

    def kernel(self):
        return np.sign

    def vjp(self, g):
        return [None]


class StopGradient(Node):
    """``StopGradient(x)``: the value of x, with no gradient flowing back into x (a
    constant as far as `grad` is concerned, as jax.lax.stop_gradient and torch's detach)."""

    op_label = "stop_gradient"

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, x):
        return x

    def vjp(self, g):
        return [None]


class Where(Node):
    """``Where(cond, a, b)``: a where cond is true, else b. No gradient flows to `cond`,
    and the branch not taken receives an exact zero cotangent."""

    op_label = "where"

    def __init__(self, cond, a, b, name=None):
        cond, a, b = as_nodes(cond, a, b)
        super().__init__(cond, a, b, name=name)

    def infer_dtype(self, cond, a, b):
        return np.result_type(a, b)

    def kernel(self):
        return np.where

    def vjp(self, g):
        cond = self.children[0]
        return [None, Where(cond, g, 0), Where(cond, 0, g)]


class Comparison(Node):
    """Base of elementwise comparisons: boolean output, no gradient."""

    differentiable = False
    ufunc = None

    def __init__(self, a, b, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def infer_dtype(self, *dtypes):
        return np.bool_

    def kernel(self):
        return self.ufunc


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


class Cast(Node):
    """Value converted to another dtype (``Cast(x, dtype="float32")``); gradient cast back."""

    op_label = "cast"

    def __init__(self, x, dtype, name=None):
        super().__init__(x, name=name, to=np.dtype(dtype).str)

    def infer_shape(self, shape):
        return shape

    def infer_dtype(self, dtype):
        return np.dtype(self.to)

    def forward(self, x):
        return x.astype(self.to)

    def vjp(self, g):
        return [Cast(g, self.children[0].dtype)]
