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
(returns None, and the node is an atom) when a polynomial would exceed `MAX_TERMS`
monomials or a monomial `MAX_MONOMIAL_ATOMS` atoms, and when the pass has spent its
`Budget` of monomial operations (a fixed amount per node of the graph): expansion never
explodes, and the pass costs at most a constant per node.
"""
from bisect import bisect_left

import numpy as np

from ..core.node import Constant
from ..ops.arithmetic import Add, Mul, Negate
from ..ops.elementary import Pow
from .engine import scalar_constant

MAX_TERMS = 256
MAX_POWER = 16
#: Monomials of more atoms than this are not expanded (a product along a chain of n
#: different factors would otherwise give monomials of n atoms, and n**2 work).
MAX_MONOMIAL_ATOMS = 8
ONE = ()  # the empty monomial


class Budget:
    """Monomial operations the pass may still spend (shared by its algebras)."""

    def __init__(self, units):
        self.units = units

    def spend(self, units):
        """Take `units` if there are that many left; False (and take none) otherwise."""
        if units > self.units:
            return False
        self.units -= units
        return True


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

    def __init__(self, laurent=False, budget=None):
        self.laurent = laurent
        self.budget = Budget(float("inf")) if budget is None else budget

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
        if not self.budget.spend(sum(len(p) for p in polys)):
            return None
        out = {}
        for p in polys:
            out = _add(out, p)
        return out if len(out) <= MAX_TERMS else None

    def difference(self, p, q):
        """p - q."""
        if not self.budget.spend(len(p) + len(q)):
            return None
        return _add(p, q, -1.0)

    def negative(self, p):
        """-p."""
        if not self.budget.spend(len(p)):
            return None
        return {m: -c for m, c in p.items()}

    def product(self, p, q):
        """p * q."""
        if p is None or q is None or not self.budget.spend(len(p) * len(q)):
            return None
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
            return self._power(p, k)
        return self._inverse_power(p, -k)

    def _power(self, p, k):
        """p ** k for an integer k >= 0."""
        result = {ONE: 1.0}
        for _ in range(k):
            result = self.product(result, p)
            if result is None:
                return None
        return result

    def quotient(self, p, q):
        """p / q, for a single-monomial q (and `laurent`)."""
        inverse = self._inverse_power(q, 1)
        return None if inverse is None else self.product(p, inverse)

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
    if len(m) < len(n):
        m, n = n, m
    if not n:
        return m
    if len(n) == 1:  # the common case: times one atom's power (m is sorted by atom)
        (i, f), = n
        if i > m[-1][0]:  # an atom after all of m's (atoms are numbered along the graph)
            return m + n
        k = bisect_left(m, (i,))  # (i,) sorts before every (i, e)
        if k == len(m) or m[k][0] != i:
            return m[:k] + n + m[k:]
        e = m[k][1] + f
        return m[:k] + ((i, e),) + m[k + 1:] if e else m[:k] + m[k + 1:]
    exps = dict(m)
    for i, e in n:
        exps[i] = exps.get(i, 0) + e
    return tuple(sorted((i, e) for i, e in exps.items() if e))


def _mul(p, q):
    """p * q, or None when the product has too many terms or too long monomials."""
    if len(p) * len(q) > MAX_TERMS * 4:
        return None
    if len(p) == 1 and len(q) == 1:  # monomial times monomial: products along a chain
        (m, c), = p.items()
        (n, d), = q.items()
        k = _mul_monomials(m, n)
        return None if len(k) > MAX_MONOMIAL_ATOMS else {k: c * d}
    out = {}
    for m, c in p.items():
        for n, d in q.items():
            k = _mul_monomials(m, n)
            v = out.get(k, 0.0) + c * d
            if v:
                out[k] = v
            else:
                out.pop(k, None)
    if len(out) > MAX_TERMS or any(len(k) > MAX_MONOMIAL_ATOMS for k in out):
        return None
    return out


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
    return horner_form(p, _NodeBuilder(atoms, make, like.dtype))


def emitted_size(p, limit, known=None):
    """The number of nodes (above the atoms) `emit` builds for `p`, found without
    building any, or None once it exceeds `limit` (the count stops there, and after
    looking at `WORK_PER_COUNTED_NODE * limit` monomials: its cost is bounded by `limit`).

    `known`: a dict remembering counts by the polynomial's shape (its atoms renumbered in
    order), so that the many alike polynomials along a chain are counted once."""
    if known is not None:
        shape = (relabelled(p), limit)
        if shape in known:
            return known[shape]
    counter = _Counter(limit, WORK_PER_COUNTED_NODE * (limit + 1) + MIN_COUNTING_WORK)
    try:
        horner_form(p, counter)
        size = len(counter.nodes)
    except _TooLarge:
        size = None
    if known is not None:
        known[shape] = size
    return size


def relabelled(p):
    """`p` with its atoms renumbered 0, 1, ... in increasing order, as a hashable tuple:
    Horner's form only compares atom numbers, so it has the same shape for both."""
    number = {i: k for k, i in enumerate(sorted({i for m in p for i, _ in m}))}
    return tuple(sorted((tuple((number[i], e) for i, e in m), c) for m, c in p.items()))


#: How many monomials `emitted_size` may look at per node it may count (and in all, at
#: least MIN_COUNTING_WORK more).
WORK_PER_COUNTED_NODE = 2
MIN_COUNTING_WORK = 32


def horner_form(p, build):
    """`p` in Horner form, through `build` (constants, powers, sums and products)."""
    def horner(poly):
        build.spend(len(poly) + 1)
        if not poly:
            return None
        if set(poly) == {ONE}:
            return build.const(poly[ONE])
        # the atom present in most monomials goes outermost (the first such, by number)
        counts = {}
        for m in poly:
            for i, _ in m:
                counts[i] = counts.get(i, 0) + 1
        most = max(counts.values())
        v = min(i for i, k in counts.items() if k == most)
        groups = {}
        for m, c in poly.items():
            e, rest = 0, m
            for k, (i, f) in enumerate(m):
                if i == v:
                    e, rest = f, m[:k] + m[k + 1:]
                    break
            groups.setdefault(e, {})[rest] = c
        exponents = sorted(groups, reverse=True)
        acc = None
        for k, e in enumerate(exponents):
            term = horner(groups[e])
            acc = term if acc is None else build.add(acc, term)
            gap = e - exponents[k + 1] if k + 1 < len(exponents) else e
            if gap:
                acc = build.times(acc, build.power(v, gap))
        return acc

    result = horner(p)
    return build.const(0.0) if result is None else result


class _NodeBuilder:
    """Builds the Horner form as nodes (with the rewriter's `make`)."""

    def __init__(self, atoms, make, dtype):
        self.atoms, self.make, self.dtype = atoms, make, dtype

    def spend(self, monomials):
        pass  # building is decided already: no limit

    def const(self, c):
        return Constant(np.asarray(c, dtype=self.dtype))

    def power(self, i, e):
        base = self.atoms.nodes[i]
        return base if e == 1 else self.make(Pow, base, self.const(e))

    def add(self, a, b):
        return self.make(Add, a, b)

    def times(self, a, b):
        k = scalar_constant(a) if isinstance(a, Constant) and a.shape == () else None
        if k == 1:
            return b
        if k == -1:
            return self.make(Negate, b)
        return self.make(Mul, a, b)


class _TooLarge(Exception):
    pass


class _Counter:
    """Stands in for `_NodeBuilder`: nodes are numbers standing for their structure, and
    only distinct ones that are not leaves are counted (as interning would share them)."""

    def __init__(self, limit, work):
        self.nodes, self.leaves, self.limit, self.work = {}, {}, limit, work

    def spend(self, monomials):
        self.work -= monomials
        if self.work < 0:
            raise _TooLarge

    def _node(self, key):
        number = self.nodes.get(key)
        if number is None:
            number = self.nodes[key] = -1 - len(self.nodes)  # leaves count up from 0
            if len(self.nodes) > self.limit:
                raise _TooLarge
        return number

    def const(self, c):
        return self.leaves.setdefault(("constant", float(c)), len(self.leaves))

    def power(self, i, e):
        if e == 1:
            return self.leaves.setdefault(("atom", i), len(self.leaves))
        return self._node(("pow", i, e))

    def add(self, a, b):
        return self._node(("add", min(a, b), max(a, b)))

    def times(self, a, b):
        if a == self.leaves.get(("constant", 1.0)):
            return b
        if a == self.leaves.get(("constant", -1.0)):
            return self._node(("neg", b))
        return self._node(("mul", min(a, b), max(a, b)))
