"""Polynomial normal form: elementwise arithmetic as polynomials over atom nodes.

An elementwise expression built from +, -, *, integer powers and scalar constants is a
polynomial in its *atoms* (the other nodes it uses: tanh(x), sin(x), a Variable...).
Expanded and with like monomials collected, the polynomial is a normal form: two
expressions that are equal as polynomials get the same one. It is emitted back as a graph
in Horner form, sharing powers.

Ops say how they combine polynomials with a `polynomial(algebra, *polys)` method that
calls the `Algebra` below; an op without one is an atom. Negative powers (Laurent
polynomials, where ``x * x**-1`` cancels to 1) are allowed only at the FAST level: the
cancellation is wrong where x is 0.

A `Poly` maps a monomial, a sorted tuple of (atom number, exponent) pairs, to its float
coefficient; `Atoms` numbers the atom nodes by first appearance. Conversion gives up
(returns None) when a polynomial would exceed `MAX_TERMS` monomials, so expansion never
explodes.
"""
import numpy as np

from ..core.node import Constant
from ..ops.arithmetic import Add, Mul, Negate
from ..ops.elementary import Pow
from .engine import scalar_constant

MAX_TERMS = 256
MAX_POWER = 16
ONE = ()  # the empty monomial


class Atoms:
    """The atom nodes of a set of polynomials, numbered by first appearance."""

    def __init__(self):
        self.nodes = []
        self.index = {}

    def of(self, node):
        """The atom number of `node` (registered on first use)."""
        i = self.index.get(id(node))
        if i is None:
            i = self.index[id(node)] = len(self.nodes)
            self.nodes.append(node)
        return i


class Algebra:
    """Polynomial arithmetic for the ops' `polynomial` methods. Every operation returns a
    Poly, or None when the result is not a polynomial this pass keeps (too many terms, a
    non-integer power, a negative power without `laurent`)."""

    def __init__(self, laurent=False):
        self.laurent = laurent

    @staticmethod
    def constant(c):
        """The constant polynomial c."""
        return {ONE: float(c)} if c else {}

    @staticmethod
    def atom(i, exponent=1):
        """The polynomial a_i ** exponent."""
        return {((i, exponent),): 1.0}

    def sum(self, polys):
        """The sum of `polys`."""
        out = {}
        for p in polys:
            out = _add(out, p)
        return out if len(out) <= MAX_TERMS else None

    def difference(self, p, q):
        """p - q."""
        return _add(p, q, -1.0)

    @staticmethod
    def negative(p):
        """-p."""
        return {m: -c for m, c in p.items()}

    def product(self, p, q):
        """p * q."""
        return _mul(p, q)

    def power(self, p, exponent):
        """p ** k for a constant integer exponent polynomial k."""
        if set(exponent) - {ONE}:
            return None
        k = exponent.get(ONE, 0.0)
        if not float(k).is_integer() or abs(k) > MAX_POWER:
            return None
        k = int(k)
        if k >= 0:
            return _power(p, k)
        return self._inverse_power(p, -k)

    def quotient(self, p, q):
        """p / q, for a single-monomial q (and `laurent`)."""
        inverse = self._inverse_power(q, 1)
        return None if inverse is None else _mul(p, inverse)

    def _inverse_power(self, p, k):
        if not self.laurent or len(p) != 1:
            return None
        (m, c), = p.items()
        if c == 0:
            return None
        return {tuple((i, -e * k) for i, e in m): c ** -k}


def _add(p, q, scale=1.0):
    """p + scale * q."""
    out = dict(p)
    for m, c in q.items():
        v = out.get(m, 0.0) + scale * c
        if v:
            out[m] = v
        else:
            out.pop(m, None)
    return out


def _mul_monomials(m, n):
    exps = dict(m)
    for i, e in n:
        exps[i] = exps.get(i, 0) + e
    return tuple(sorted((i, e) for i, e in exps.items() if e))


def _mul(p, q):
    """p * q, or None when the product has too many terms."""
    if p is None or q is None or len(p) * len(q) > MAX_TERMS * 4:
        return None
    out = {}
    for m, c in p.items():
        for n, d in q.items():
            k = _mul_monomials(m, n)
            v = out.get(k, 0.0) + c * d
            if v:
                out[k] = v
            else:
                out.pop(k, None)
    return out if len(out) <= MAX_TERMS else None


def _power(p, k):
    """p ** k for an integer k >= 0."""
    result = {ONE: 1.0}
    for _ in range(k):
        result = _mul(result, p)
        if result is None:
            return None
    return result


def to_poly(node, child_polys, algebra):
    """The polynomial of `node` from its children's polynomials, or None if `node` is not
    a polynomial operation of them (the caller then treats it as an atom)."""
    if isinstance(node, Constant):
        k = scalar_constant(node)  # uniform arrays too: the root's shape is restored
        return algebra.constant(k) if k is not None else None
    method = getattr(node, "polynomial", None)
    if method is None or node.dtype.kind != "f" or any(p is None for p in child_polys):
        return None
    return method(algebra, *child_polys)


def has_negative_powers(p):
    """Whether a monomial of `p` divides by an atom."""
    return any(e < 0 for m in p for _, e in m)


def emit(p, atoms, make, like):
    """A graph computing polynomial `p` in Horner form, built with `make(op, *args)`.

    `like` gives the dtype of constants. Powers of an atom are shared nodes.
    """
    dtype = like.dtype

    def const(c):
        return Constant(np.asarray(c, dtype=dtype))

    def pow_node(i, e):
        base = atoms.nodes[i]
        return base if e == 1 else make(Pow, base, const(e))

    def horner(poly):
        if not poly:
            return None
        if set(poly) == {ONE}:
            return const(poly[ONE])
        # the atom present in most monomials goes outermost
        counts = {}
        for m in poly:
            for i, _ in m:
                counts[i] = counts.get(i, 0) + 1
        v = max(sorted(counts), key=lambda i: counts[i])
        groups = {}
        for m, c in poly.items():
            e = dict(m).get(v, 0)
            rest = tuple(x for x in m if x[0] != v)
            groups.setdefault(e, {})[rest] = c
        exponents = sorted(groups, reverse=True)
        acc = None
        for k, e in enumerate(exponents):
            term = horner(groups[e])
            acc = term if acc is None else make(Add, acc, term)
            gap = e - exponents[k + 1] if k + 1 < len(exponents) else e
            if gap:
                acc = _times(acc, pow_node(v, gap), make)
        return acc

    result = horner(p)
    return const(0.0) if result is None else result


def _times(a, b, make):
    k = scalar_constant(a) if isinstance(a, Constant) and a.shape == () else None
    if k == 1:
        return b
    if k == -1:
        return make(Negate, b)
    return make(Mul, a, b)
