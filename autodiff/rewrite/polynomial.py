"""Polynomial normal form: elementwise arithmetic as Laurent polynomials over atom nodes.

An elementwise expression built from +, -, *, integer powers, scalar constants and
reciprocals of atoms is a polynomial in its *atoms* (the other nodes it uses: tanh(x),
sin(x), a Variable...). Expanded and with like monomials collected, the polynomial is a
normal form: two expressions that are equal as polynomials get the same one. It is emitted
back as a graph in Horner form, sharing powers.

A `Poly` maps a monomial, a sorted tuple of (atom id, exponent) pairs, to its float
coefficient; `Atoms` numbers the atom nodes. Conversion gives up (returns None) when a
polynomial would exceed `MAX_TERMS` monomials, so expansion never explodes.
"""
import numpy as np

from ..core.node import Constant
from ..ops import elementwise as ew
from .engine import scalar_constant

MAX_TERMS = 256
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


def constant(c):
    """The constant polynomial c."""
    return {ONE: float(c)} if c else {}


def atom(i, exponent=1):
    """The polynomial a_i ** exponent."""
    return {((i, exponent),): 1.0}


def add(p, q, scale=1.0):
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


def mul(p, q):
    """p * q, or None when the product has too many terms."""
    if len(p) * len(q) > MAX_TERMS * 4:
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


def power(p, k):
    """p ** k for an integer k >= 0 (or a single-monomial p and any integer k)."""
    if len(p) == 1 and k < 0:
        (m, c), = p.items()
        return {tuple((i, e * k) for i, e in m): c ** k}
    result = constant(1.0)
    for _ in range(k):
        result = mul(result, p)
        if result is None:
            return None
    return result


def derivative(p, atom_derivatives):
    """dp/dx given each atom's derivative (a dict atom id -> Poly; absent means 0)."""
    out = {}
    for m, c in p.items():
        for j, (i, e) in enumerate(m):
            da = atom_derivatives.get(i)
            if not da:
                continue
            rest = m[:j] + ((i, e - 1),) + m[j + 1:] if e != 1 else m[:j] + m[j + 1:]
            rest = tuple(x for x in rest if x[1])
            term = mul({rest: c * e}, da)
            if term is None:
                return None
            out = add(out, term)
            if len(out) > MAX_TERMS:
                return None
    return out


POLYNOMIAL_OPS = (ew.Add, ew.Subtract, ew.Mul, ew.Negate, ew.Pow, ew.Divide, ew.Recipr)


def to_poly(node, child_polys, atoms):
    """The polynomial of `node` from its children's polynomials, or None if `node` is not
    a polynomial operation of them (the caller then treats it as an atom)."""
    if isinstance(node, Constant):
        k = scalar_constant(node)  # uniform arrays too: the root's shape is restored
        return constant(k) if k is not None else None
    if not isinstance(node, POLYNOMIAL_OPS) or any(p is None for p in child_polys):
        return None
    if isinstance(node, ew.Mul) and node.params.get("strong_zero"):
        return None
    if isinstance(node, ew.Add):
        out = {}
        for p in child_polys:
            out = add(out, p)
        return out if len(out) <= MAX_TERMS else None
    if isinstance(node, ew.Subtract):
        return add(child_polys[0], child_polys[1], -1.0)
    if isinstance(node, ew.Negate):
        return {m: -c for m, c in child_polys[0].items()}
    if isinstance(node, ew.Mul):
        return mul(child_polys[0], child_polys[1])
    if isinstance(node, ew.Pow):
        k = child_polys[1].get(ONE, 0.0) if set(child_polys[1]) <= {ONE} else None
        if k is None or not float(k).is_integer() or abs(k) > 16:
            return None
        if k < 0 and len(child_polys[0]) != 1:
            return None
        return power(child_polys[0], int(k))
    if isinstance(node, (ew.Divide, ew.Recipr)):
        num = child_polys[0] if isinstance(node, ew.Divide) else constant(1.0)
        den = child_polys[-1]
        if len(den) != 1:
            return None
        return mul(num, power(den, -1))
    return None


def emit(p, atoms, make, like):
    """A graph computing polynomial `p` in Horner form, built with `make(op, *args)`.

    `like` gives the dtype of constants. Powers of an atom are shared nodes.
    """
    dtype = like.dtype

    def const(c):
        return Constant(np.asarray(c, dtype=dtype))

    def pow_node(i, e):
        base = atoms.nodes[i]
        return base if e == 1 else make(ew.Pow, base, const(e))

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
            acc = term if acc is None else make(ew.Add, acc, term)
            gap = e - exponents[k + 1] if k + 1 < len(exponents) else e
            if gap:
                acc = _times(acc, pow_node(v, gap), make, const)
        return acc

    result = horner(p)
    return const(0.0) if result is None else result


def _times(a, b, make, const):
    k = scalar_constant(a) if isinstance(a, Constant) and a.shape == () else None
    if k == 1:
        return b
    if k == -1:
        return make(ew.Negate, b)
    return make(ew.Mul, a, b)
