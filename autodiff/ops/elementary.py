"""Elementary functions and activations: powers, exponentials, logarithms, roots,
trigonometric and hyperbolic functions, absolute value, sigmoid, softplus and relu.

Elementwise, with numpy's dtypes (``exp`` of an integer array is floating, as in numpy).
Rules whose local derivative can be infinite or NaN (log, sqrt, pow, exp, tan) use a
strong-zero product (`strong_mul`): a zero cotangent gives a zero gradient, so the branch
not taken by `where` stays NaN-free when the singular op sits directly under it.
Values are computed in forms that stay finite (sigmoid and softplus never overflow).
"""
import numpy as np

from ..core.node import Node, Constant, as_nodes
from .arithmetic import Add, Mul, Negate, Recipr, Subtract, strong_mul
from .logic import Equal, Sign, Step, Where

__all__ = ["Pow", "Exp", "Expm1", "Log", "Log1p", "Sqrt", "Abs", "Sin", "Cos", "Tan", "Arctan",
           "Sinh", "Cosh", "Tanh", "Sigmoid", "Softplus", "ReLU"]


class Pow(Node):
    """a ** b, for node or constant exponents.

    An integer base with a negative constant exponent is refused when the node is built
    (numpy raises for integers to negative integer powers).
    """

    op_label = "**"
    elementwise = True
    ufunc = np.power

    def __init__(self, a, b, *, name=None):
        a, b = as_nodes(a, b)
        if a.dtype.kind in "biu" and b.dtype.kind in "biu" and isinstance(b, Constant) \
                and np.any(b.value < 0):
            raise ValueError(f"Pow: {a.describe()} of dtype {a.dtype} to a negative integer "
                             f"power {b.value.tolist()!r}: numpy does not raise integers to "
                             f"negative integer powers; make the base or exponent float")
        super().__init__(a, b, name=name)

    @property
    def finite(self):
        """x**k is finite for finite x when k is a non-negative integer constant."""
        k = constant_exponent(self)
        return k is not None and k >= 0 and float(k).is_integer()

    def kernel(self):
        k = constant_exponent(self)
        base = self.children[0]
        if k is not None and base.dtype == self.dtype and self.dtype.kind == "f":
            fast = {1: _identity, 2: np.square, 0.5: np.sqrt, -1: np.reciprocal}.get(k)
            if fast is not None:  # the same values as np.power, without its general loop
                return lambda a, b: fast(a)
        return np.power

    def lower_jax(self, lowering, a, b):
        jnp, k = lowering.jnp, constant_exponent(self)
        if k is not None and self.children[0].dtype == self.dtype and self.dtype.kind == "f":
            fast = {1: lambda v: v, 2: jnp.square, 0.5: jnp.sqrt, -1: jnp.reciprocal}.get(k)
            if fast is not None:  # as the numpy kernel
                return fast(a)
        return jnp.power(a, b)

    def vjp_facts(self):
        """A constant exponent's value: the rule builds ``b - 1`` from it."""
        b = self.children[1]
        return ("array", b.value.tobytes()) if isinstance(b, Constant) else ()

    def vjp(self, g):
        a, b = self.children
        if isinstance(b, Constant):
            da = strong_mul(g, Mul(b, Pow(a, Constant(b.value - 1, dtype=b.dtype))))
            return [da, None]
        da = strong_mul(g, Mul(b, Pow(a, Subtract(b, 1))))
        # d/db a**b = log(a) * a**b; at a = 0 it is taken as 0 (the limit from above for
        # b > 0), by the logarithm of 1 in place of 0, as other frameworks do.
        safe_base = Where(Equal(a, 0), 1, a)
        db = strong_mul(g, Mul(Log(safe_base), self))
        return [da, db]

    def polynomial(self, algebra, a, b):
        return algebra.power(a, b)


def constant_exponent(node):
    """The exponent of a Pow node as a Python float when it is a 0-d Constant, else None."""
    b = node.children[1]
    if isinstance(b, Constant) and b.value.ndim == 0 and b.dtype.kind in "biuf":
        return float(b.value)
    return None


def _identity(x):
    return x


class Exp(Node):
    """e ** x."""

    op_label = "exp"
    elementwise = True
    ufunc = np.exp

    def vjp(self, g):
        return [strong_mul(g, self)]


class Expm1(Node):
    """e ** x - 1, accurate near 0."""

    op_label = "expm1"
    elementwise = True
    ufunc = np.expm1

    def vjp(self, g):
        return [strong_mul(g, Add(self, 1))]


class Log(Node):
    """Natural logarithm, exactly (no epsilon)."""

    op_label = "log"
    elementwise = True
    ufunc = np.log

    def vjp(self, g):
        return [strong_mul(g, Recipr(self.children[0]))]


class Log1p(Node):
    """log(1 + x), accurate near 0."""

    op_label = "log1p"
    elementwise = True
    ufunc = np.log1p

    def vjp(self, g):
        return [strong_mul(g, Recipr(Add(self.children[0], 1)))]


class Sqrt(Node):
    """Square root."""

    op_label = "sqrt"
    elementwise = True
    ufunc = np.sqrt

    def vjp(self, g):
        return [strong_mul(g, Mul(0.5, Recipr(self)))]


class Abs(Node):
    """The absolute value of x; its derivative is sign(x) (0 at 0)."""

    op_label = "abs"
    elementwise = finite = True
    ufunc = np.abs

    def vjp(self, g):
        return [Mul(g, Sign(self.children[0]))]


class Sin(Node):
    """sin(x)."""

    op_label = "sin"
    elementwise = finite = True
    ufunc = np.sin

    def vjp(self, g):
        return [Mul(g, Cos(self.children[0]))]


class Cos(Node):
    """cos(x)."""

    op_label = "cos"
    elementwise = finite = True
    ufunc = np.cos

    def vjp(self, g):
        return [Negate(Mul(g, Sin(self.children[0])))]


class Tan(Node):
    """tan(x); derivative 1 + tan(x)**2."""

    op_label = "tan"
    elementwise = True
    ufunc = np.tan

    def vjp(self, g):
        return [strong_mul(g, Add(1, Mul(self, self)))]


class Arctan(Node):
    """arctan(x); derivative 1 / (1 + x**2)."""

    op_label = "arctan"
    elementwise = finite = True
    ufunc = np.arctan

    def vjp(self, g):
        x, = self.children
        return [Mul(g, Recipr(Add(1, Mul(x, x))))]


class Sinh(Node):
    """sinh(x); derivative cosh(x)."""

    op_label = "sinh"
    elementwise = True
    ufunc = np.sinh

    def vjp(self, g):
        return [Mul(g, Cosh(self.children[0]))]


class Cosh(Node):
    """cosh(x); derivative sinh(x)."""

    op_label = "cosh"
    elementwise = True
    ufunc = np.cosh

    def vjp(self, g):
        return [Mul(g, Sinh(self.children[0]))]


class Tanh(Node):
    """tanh(x); derivative 1 - tanh(x)**2, written in terms of this node's value."""

    op_label = "tanh"
    elementwise = finite = True
    ufunc = np.tanh

    def vjp(self, g):
        return [Mul(g, Subtract(1, Mul(self, self)))]


class Sigmoid(Node):
    """1 / (1 + e**-x), computed without overflow; derivative s * (1 - s)."""

    op_label = "sigmoid"
    elementwise = finite = True

    def forward(self, x):
        z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))

    def lower_jax(self, lowering, x):
        jnp = lowering.jnp
        z = jnp.exp(-jnp.abs(x))
        return jnp.where(x >= 0, 1 / (1 + z), z / (1 + z))

    def vjp(self, g):
        return [Mul(g, Mul(self, Subtract(1, self)))]


class Softplus(Node):
    """log(1 + e**x), computed without overflow; derivative sigmoid(x)."""

    op_label = "softplus"
    elementwise = finite = True

    def forward(self, x):
        return np.logaddexp(0, x)

    def lower_jax(self, lowering, x):
        return lowering.jnp.logaddexp(0, x)

    def vjp(self, g):
        return [Mul(g, Sigmoid(self.children[0]))]


class ReLU(Node):
    """max(x, 0); derivative is the step function (x > 0), second derivative 0."""

    op_label = "relu"
    elementwise = finite = True

    def forward(self, x):
        return np.maximum(x, 0)

    def lower_jax(self, lowering, x):
        return lowering.jnp.maximum(x, 0)

    def vjp(self, g):
        return [Mul(g, Step(self.children[0]))]
