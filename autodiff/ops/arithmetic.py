"""Arithmetic: sums, differences, products, negation, reciprocals and quotients.

Elementwise with numpy broadcasting and numpy's dtypes. Every derivative rule is written
with these same ops, so it can be differentiated again; a rule may return a cotangent of
the output's shape, because the gradient transform sums broadcasting away in one place.

Rules whose local derivative can be infinite or NaN (1/x; elsewhere log, sqrt, pow)
multiply the cotangent with a *strong zero* product (`strong_mul`): where the cotangent is
exactly 0 the product is 0 even if the other factor is inf or NaN. That keeps a branch not
taken by `where` from leaking NaN into a gradient when the singular op sits directly
under the `where`.
"""
import numpy as np

from ..core.context import cotangent_needed, finiteness_memo
from ..core.finite import always_finite
from ..core.node import Node, as_nodes

__all__ = ["Add", "Subtract", "Mul", "Negate", "Recipr", "Divide"]


def strong_mul(g, d):
    """``g * d`` where a zero `g` gives zero even when `d` is inf or NaN. Inside a
    backward pass, a plain product when `d` is always finite (`core.finite`): the same
    bits, a cheaper kernel, and nothing for the rewrites to weaken."""
    memo = finiteness_memo()
    if memo is not None:
        answers, kept = memo
        kept.append(d)
        if always_finite(d, answers):
            return Mul(g, d)
    return Mul(g, d, strong_zero=True)


class Add(Node):
    """Sum of any number of operands: ``Add(a, b, c)`` is (a + b) + c."""

    op_label = "+"
    elementwise = finite = True
    commutative = True  # for two operands; longer sums keep their operand order in their key

    def __init__(self, *operands, name=None):
        if not operands:
            raise TypeError("Add takes at least one operand, got none")
        super().__init__(*as_nodes(*operands), name=name)

    def kernel(self):
        return np.add if len(self.children) == 2 else self.forward

    def forward(self, *values):
        total = values[0] + values[1] if len(values) > 1 else +values[0]
        for v in values[2:]:
            total = total + v
        return total

    def vjp(self, g):
        return [g] * len(self.children)

    def lower_dask(self, lowering, *values):
        return self.forward(*values)  # left to right, as numpy: dask arrays add alike

    def lower_jax(self, lowering, *values):
        total = values[0] + values[1] if len(values) > 1 else +values[0]
        for v in values[2:]:
            total = total + v
        return total

    def polynomial(self, algebra, *polys):
        return algebra.sum(polys)


class Subtract(Node):
    """a - b."""

    op_label = "-"
    elementwise = finite = True
    ufunc = np.subtract

    def __init__(self, a, b, *, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def vjp(self, g):
        return [g, Negate(g)]

    def polynomial(self, algebra, a, b):
        return algebra.difference(a, b)


class Mul(Node):
    """a * b. With ``strong_zero=True``, an exactly-zero `a` gives 0 whatever `b` is."""

    op_label = "*"
    elementwise = finite = True
    ufunc = np.multiply

    #: Whether this is a strong-zero product: an attribute (True on those products)
    #: rather than a property, since rewrite rules ask it of every product they see.
    strong = False

    def __init__(self, a, b, *, name=None, strong_zero=False):
        if strong_zero:
            super().__init__(*as_nodes(a, b), name=name, strong_zero=True)
            self.strong = True
        else:
            super().__init__(*as_nodes(a, b), name=name)

    @property
    def commutative(self):
        """a*b is b*a bit for bit for real numbers, unless a zero `a` is strong. (numpy's
        vectorised complex product can differ in the last bit when swapped.)"""
        return not self.strong and self.dtype.kind != "c"

    def kernel(self):
        return _strong_zero_multiply if self.strong else np.multiply

    def forward(self, a, b):
        return self.kernel()(a, b)

    def vjp(self, g):
        a, b = self.children
        if self.strong:
            return [strong_mul(g, b) if cotangent_needed(0) else None,
                    strong_mul(a, g) if cotangent_needed(1) else None]
        return [strong_mul(g, b) if cotangent_needed(0) else None,
                strong_mul(g, a) if cotangent_needed(1) else None]

    def lower_dask(self, lowering, a, b):
        if not self.strong:
            return a * b
        return lowering.elemwise(lowering.kernel(self), a, b, dtype=self.dtype)

    def lower_jax(self, lowering, a, b):
        jnp = lowering.jnp
        product = a * b
        if not self.strong or product.dtype.kind not in "fc":
            return product
        zero = jnp.zeros((), product.dtype)  # as the numpy kernel: zeros where a is 0
        return jnp.where(jnp.isnan(jnp.sum(product)), jnp.where(a == 0, zero, product),
                         product)

    def polynomial(self, algebra, a, b):
        return None if self.strong else algebra.product(a, b)


def _strong_zero_multiply(a, b):
    product = np.multiply(a, b)
    # Fast path: only a NaN in the result can come from 0 * inf or 0 * NaN.
    if product.dtype.kind in "fc" and np.isnan(np.sum(product)):
        product = np.where(a == 0, np.zeros((), product.dtype), product)
    return product


class Negate(Node):
    """-x."""

    op_label = "neg"
    elementwise = finite = linear = True
    ufunc = np.negative

    def vjp(self, g):
        return [Negate(g)]

    def polynomial(self, algebra, x):
        return algebra.negative(x)


class Recipr(Node):
    """1 / x, exactly (no epsilon); numpy's integer reciprocal for integers."""

    op_label = "1/"
    elementwise = True
    ufunc = np.reciprocal

    def vjp(self, g):
        return [strong_mul(g, Negate(Mul(self, self)))]

    def polynomial(self, algebra, x):
        return algebra.quotient(algebra.constant(1.0), x)


class Divide(Node):
    """a / b (true division: integers divide to float64, as in numpy)."""

    op_label = "/"
    elementwise = True
    ufunc = np.divide

    def __init__(self, a, b, *, name=None):
        super().__init__(*as_nodes(a, b), name=name)

    def vjp(self, g):
        g_over_b = strong_mul(g, Recipr(self.children[1]))
        return [g_over_b, Negate(strong_mul(g_over_b, self)) if cotangent_needed(1) else None]

    def polynomial(self, algebra, a, b):
        return algebra.quotient(a, b)
