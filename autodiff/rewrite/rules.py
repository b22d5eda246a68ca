"""The rewrite rules, each small and named, with its algebra in a comment and its level.

A rule receives the rewriter and a node whose children are already rewritten; it returns
an equivalent node (of any shape that broadcasts to the original; the engine restores the
shape) or None when it does not apply. Sub-nodes are built with ``rw.make`` so they are
rewritten and shared as well. Levels (engine.py): `EXACT` rules never change a bit,
`REAL` rules are identities over the reals (rounding may differ), `FAST` ones assume
values are finite and nonzero. Which nodes a level applies to is the caller's choice.
"""
import numpy as np

from ..core import finite
from ..core.node import Node, Constant
from ..ops.arithmetic import Add, Divide, Mul, Negate, Recipr, Subtract
from ..ops.einsum import Einsum, LETTERS
from ..ops.elementary import Pow
from ..ops.logic import Where
from ..ops.shape_ops import BroadcastTo, ReduceSumToShape, Reshape
from .engine import EXACT, FAST, REAL, leave_open, rule, scalar_constant

#: Constants larger than this are not folded (the folded value would be held by the plan).
MAX_FOLDED_SIZE = 1 << 20


def const(value, like):
    """A Constant with `like`'s dtype."""
    return Constant(np.asarray(value, dtype=like.dtype))


def zeros(node):
    """Exact zeros of `node`'s shape and dtype."""
    return Constant(np.zeros(node.shape, dtype=node.dtype))


def is_zero(node):
    """Whether `node` is a Constant of zeros only."""
    return isinstance(node, Constant) and node.value.size > 0 and not np.any(node.value)


def is_one(node):
    """Whether `node` is a Constant of ones only (of a real dtype)."""
    return scalar_constant(node) == 1.0


# --- finiteness --------------------------------------------------------------------------

def always_finite(rw, node):
    """True when `node` is finite whenever its inputs are (`core.finite`; memoised in
    the rewriter, which keeps the nodes it has seen alive)."""
    return finite.always_finite(node, rw.finite)


# --- canonical forms ---------------------------------------------------------------------

@rule("canonical", Subtract)
def subtract_as_sum(rw, node):
    # a - b -> a + -b
    a, b = node.children
    return Add(a, rw.make(Negate, b))


@rule("canonical", Divide)
def divide_as_power(rw, node):
    # a / b -> a * b**-1  (integers keep numpy's true division)
    if node.dtype.kind not in "fc" or node.children[1].dtype != node.dtype:
        return None
    a, b = node.children
    return Mul(a, rw.make(Pow, b, const(-1, node)))


@rule("canonical", Recipr)
def reciprocal_as_power(rw, node):
    # 1/x -> x**-1
    if node.dtype.kind not in "fc":
        return None
    x, = node.children
    return Pow(x, const(-1, node))


@rule("canonical", Mul, level=EXACT)
def weaken_strong_zero(rw, node):
    # strong(0, b) -> 0; strong(k, b) -> k*b for a constant k without zeros;
    # strong(a, b) -> a*b when neither factor can be inf or NaN (the products agree)
    if not node.strong:
        return None
    a, b = node.children
    if is_zero(a):
        return zeros(node)
    if isinstance(a, Constant) and np.all(a.value):
        return plain_product(node)
    if always_finite(rw, a) and always_finite(rw, b):
        return plain_product(node)
    return None


def plain_product(node):
    """The strong-zero product `node` as a plain one: a copy of it without the parameter
    (nothing else about a product depends on it; a copy costs far less than a new node,
    and every derivative of a product or a quotient has strong products)."""
    plain = in_place_of(node, Mul, *node.children)
    del plain.strong_zero, plain.strong
    return plain


# --- constants -----------------------------------------------------------------------------

@rule("algebra", Node, level=EXACT, operands=Constant)
def fold_constants(rw, node):
    # op(constants) -> constant, computed by the op's own kernel
    if not node.children or not all(isinstance(c, Constant) for c in node.children):
        return None
    if node.size > MAX_FOLDED_SIZE:
        return None
    with np.errstate(all="ignore"):
        value = node.kernel()(*[c.value for c in node.children])
    return Constant(np.asarray(value, dtype=node.dtype))


# --- sums -----------------------------------------------------------------------------------

# Nested sums are flattened up to this many terms: wider sums stay chains, so that their
# terms need not all be alive at once (a recurrent weight's gradient sums one term a step).
MAX_SUM_WIDTH = 32

# children that the sum and product rules may combine or reorder
_SUM_PARTS = (Add, Constant, Negate, Mul)
_PRODUCT_PARTS = (Mul, Constant, Negate, Pow)


def split_coefficient(node):
    """(k, t) with node == k * t for a scalar constant k (1 when there is none)."""
    if isinstance(node, Negate):
        return -1.0, node.children[0]
    if isinstance(node, Mul) and not node.strong:
        k = scalar_constant(node.children[0])
        if k is not None and (node.children[0].shape == ()
                              or node.children[1].shape == node.shape):
            return k, node.children[1]
    return 1.0, node


def scaled(rw, k, t):
    """The node k * t, simplest form."""
    if k == 1:
        return t
    if k == -1:
        return rw.make(Negate, t)
    return rw.make(Mul, const(k, t), t)


def _one_dtype(node):
    """Whether `node` and its operands share one dtype, so that regrouping its terms or
    adding its constants first gives the same values (bool + bool is a logical or, and
    small integers wrap, where a float sum would not)."""
    return all(c.dtype == node.dtype for c in node.children) and node.dtype.kind in "fc"


@leave_open(Add)
def sum_inside_a_sum(rw, node, consumer):
    # a sum that only a sum of the same dtype uses is opened by that sum's collect_sums
    if node.dtype != consumer.dtype:
        return False
    if isinstance(consumer, Subtract):
        if consumer.children[0] is not node:
            return False
    elif not isinstance(consumer, Add):
        return False
    return rw.allows(node, REAL) and rw.allows(consumer, REAL) and _one_dtype(node) \
        and _one_dtype(consumer)


@rule("algebra", Add)
def collect_sums(rw, node):
    # (a + b) + c -> a + b + c where a + b is used nowhere else (up to MAX_SUM_WIDTH
    # terms); x + 0 -> x; a*x + b*x -> (a+b)*x; constants summed; terms in rank order,
    # so every permutation of a sum is one node
    if not _one_dtype(node):
        return None  # mixed dtypes (bool masks, small integers): numpy's order decides
    terms, constants, changed = _sum_terms(rw, node)
    constant = None
    for c in constants:
        constant = c.value if constant is None else constant + c.value
    if constant is not None and not np.any(constant != 0):
        constant, changed = None, True  # x + 0 -> x
    kept = []
    for k, t, child in terms:
        if k == 0:
            changed = True
        else:
            kept.append(child if child is not None else scaled(rw, k, t))
    ranks = [rw.rank(t) for t in kept]
    if ranks != sorted(ranks) and len(kept) <= MAX_SUM_WIDTH:
        kept.sort(key=rw.rank)
        changed = True
    if constant is not None:
        if len(constants) > 1 or node.children[-1] is not constants[0]:
            changed = True  # constants are summed, and go last
        kept.append(constants[0] if len(constants) == 1 else const(constant, node))
    if not changed:
        return None
    if not kept:
        return zeros(node)
    if len(kept) > MAX_SUM_WIDTH:
        return wide_sum(rw, kept)
    return kept[0] if len(kept) == 1 else Add(*kept)


def wide_sum(rw, terms):
    """A chain of sums of at most MAX_SUM_WIDTH terms each, in `terms`' order (so that
    the terms of a long sum need not all be alive at once)."""
    total = rw.make(Add, *terms[:MAX_SUM_WIDTH])
    for i in range(MAX_SUM_WIDTH, len(terms), MAX_SUM_WIDTH - 1):
        total = rw.make(Add, total, *terms[i:i + MAX_SUM_WIDTH - 1])
    return total


def _sum_terms(rw, node):
    """The terms of `node` as ([k, base, term node or None], constants, changed): sums
    used only here are opened (up to MAX_SUM_WIDTH terms), k * base terms of one base
    are merged (their term node is then None: it has to be built again)."""
    terms, index, constants = [], {}, []
    changed = False
    pending = list(reversed(node.children))
    width = len(pending)
    while pending:
        child = pending.pop()
        if rw.is_open(child) or isinstance(child, Add) and child.dtype == node.dtype \
                and _one_dtype(child) and not rw.shared(child) \
                and width + len(child.children) - 1 <= MAX_SUM_WIDTH:
            pending.extend(reversed(child.children))
            width += len(child.children) - 1
            changed = True
        elif isinstance(child, Constant):
            constants.append(child)
        else:
            k, t = split_coefficient(child)
            i = index.get(id(t))
            if i is None:
                index[id(t)] = len(terms)
                terms.append([k, t, child])
            else:
                terms[i][0] += k
                terms[i][2] = None
                changed = True
    return terms, constants, changed


# --- products -------------------------------------------------------------------------------

@rule("algebra", Mul, level=EXACT, operands=Constant)
def multiply_by_one(rw, node):
    # x*1 -> x; 1*x -> x
    if node.strong:
        return None
    a, b = node.children
    if is_one(b):
        return a
    if is_one(a):
        return b
    return None


@rule("algebra", Mul, operands=Constant)
def multiply_by_zero(rw, node):
    # x*0 -> 0 where x cannot be inf or NaN (any x at the FAST level)
    if node.strong:
        return None
    a, b = node.children
    for zero, other in ((a, b), (b, a)):
        if is_zero(zero) and (always_finite(rw, other) or rw.allows(node, FAST)):
            return zeros(node)
    return None


#: Products are opened through factors used nowhere else up to this many factors: enough
#: to meet a repeated base nearby (x*y*x); the polynomial pass collects the rest.
MAX_PRODUCT_WIDTH = 4


def factor_powers(rw, node, powers, order):
    """Collect `node`'s factors into {id(base): [exponents]}, opening the products and
    negations used nowhere else (up to MAX_PRODUCT_WIDTH factors); return the scalar
    coefficient and the non-uniform Constant nodes among the factors."""
    coefficient, arrays = 1.0, []
    pending = [node]
    width = 1
    while pending:
        f = pending.pop()
        if isinstance(f, Constant):
            k = scalar_constant(f)
            if k is not None:
                coefficient *= k
            else:
                arrays.append(f)
        elif isinstance(f, Mul) and not f.strong and f.dtype == node.dtype and \
                (f is node or not rw.shared(f) and width < MAX_PRODUCT_WIDTH):
            pending.extend(f.children)
            width += 1
        elif isinstance(f, Negate) and f.dtype == node.dtype and not rw.shared(f):
            coefficient = -coefficient
            pending.append(f.children[0])
        else:
            base, exponent = f, 1.0
            if isinstance(f, Pow) and scalar_constant(f.children[1]) is not None \
                    and f.children[1].shape == ():
                base, exponent = f.children[0], scalar_constant(f.children[1])
            if id(base) not in powers:
                order.append(base)
            powers.setdefault(id(base), []).append(exponent)
    return coefficient, arrays


def merged_exponent(exponents, fast):
    """The exponent of a product of powers of one base, or None where merging would
    change where the product is defined: x**2 * x**3 -> x**5 and x**-1 * x**-2 -> x**-3
    hold for every real x; x**-1 * x -> 1 (wrong at 0) and x**0.5 * x**0.5 -> x (wrong
    below 0) need `fast`."""
    total = sum(exponents)
    if fast or len(exponents) == 1:
        return total
    integers = all(float(e).is_integer() for e in exponents)
    same_sign = all(e > 0 for e in exponents) or all(e < 0 for e in exponents)
    return total if integers and same_sign else None


@rule("algebra", Mul, operands=_PRODUCT_PARTS)
def collect_products(rw, node):
    # x**a * x**b -> x**(a+b) (see merged_exponent), through factors used only here;
    # array constants multiplied. Only when something merges: negations and scalar
    # constants move out of products by the local rules below, at no rebuilding cost.
    if node.strong or node.dtype.kind not in "fc":
        return None
    if _closed_distinct_factors(rw, node):
        return None  # told before factor_powers' work (most products)
    powers, bases = {}, []
    coefficient, arrays = factor_powers(rw, node, powers, bases)
    fast = rw.allows(node, FAST)
    if len(arrays) < 2 and not any(len(powers[id(base)]) > 1 and merged_exponent(
            powers[id(base)], fast) is not None for base in bases):
        return None  # nothing merges
    if coefficient == 0:
        return None  # a zero factor: multiply_by_zero decides
    factors = []
    for base in sorted(bases, key=rw.rank):
        exponents = powers[id(base)]
        total = merged_exponent(exponents, fast)
        for e in (exponents if total is None else [total]):
            if e == 1:
                factors.append(base)
            elif e != 0:
                factors.append(rw.make(Pow, base, const(e, node)))
            elif not fast:
                return None  # x**0 from x**a * x**-a: fast-math only (it is NaN at x=0)
    if len(arrays) == 1:  # reuse the node: large constants are compared by identity
        factors.append(arrays[0])
    elif arrays:
        product = arrays[0].value
        for arr in arrays[1:]:
            product = product * arr.value
        factors.append(const(product, node))
    if not factors:
        return const(np.full(node.shape, coefficient), node)
    result = factors[0]
    for f in factors[1:]:
        result = rw.make(Mul, result, f)
    if coefficient == -1:
        result = Negate(result)
    elif coefficient != 1:
        result = Mul(const(coefficient, node), result)
    return None if result.key() == node.key() else result


def _closed_distinct_factors(rw, node):
    """Whether `factor_powers` would find `node`'s two factors as they are (neither a
    product nor a negation it opens) and of two different bases (a constant's base is
    itself): then nothing merges."""
    a, b = node.children
    if a is b or isinstance(a, Constant) and isinstance(b, Constant):
        return False
    for f in (a, b):
        if isinstance(f, (Mul, Negate)) and f.dtype == node.dtype and not rw.shared(f) \
                and not (isinstance(f, Mul) and f.strong):
            return False
    if not isinstance(a, Pow) and not isinstance(b, Pow):
        return True  # two different nodes, neither a power of the other
    return _power_base(a) is not _power_base(b)


def _power_base(f):
    """x for a power x**k with a scalar constant k (as `factor_powers` reads it), else f."""
    if isinstance(f, Pow) and f.children[1].shape == () \
            and scalar_constant(f.children[1]) is not None:
        return f.children[0]
    return f


@rule("algebra", Mul)
def square(rw, node):
    # x * x -> x**2 for an x that is no product or power (collect_products takes those),
    # so that powers of x meet: x**2 * x -> x**3
    a, b = node.children
    if a is not b or node.strong or node.dtype.kind not in "fc" or a.dtype != node.dtype:
        return None
    return Pow(a, const(2, node))


@rule("algebra", Mul, operands=Negate)
def negation_out_of_product(rw, node):
    # (-a) * b -> -(a*b); a * (-b) -> -(a*b), where -a is used only here (so that a
    # negation meets its pair, and sums see the sign)
    if node.strong or node.dtype.kind not in "fc":
        return None
    a, b = node.children
    for inner, other in ((a, b), (b, a)):
        if isinstance(inner, Negate) and inner.dtype == node.dtype and not rw.shared(inner):
            return Negate(rw.make(Mul, inner.children[0], other))
    return None


@rule("algebra", Mul, operands=(Constant, Mul))
def scalar_out_of_product(rw, node):
    # (k*a) * b -> k*(a*b); a * (k*b) -> k*(a*b); k1 * (k2*a) -> (k1*k2)*a, for scalar
    # constants k and k*a used only here: constants meet at the top of a product
    if node.strong or node.dtype.kind not in "fc":
        return None
    a, b = node.children
    k = scalar_constant(a) if a.shape == () else None
    if k is not None:
        k2, t = _scalar_factor(rw, b, node)
        if k2 is None:
            return None
        return Mul(const(k * k2, node), t)
    for inner, other in ((a, b), (b, a)):
        if isinstance(inner, Mul) and isinstance(inner.children[0], Constant):
            k2, t = _scalar_factor(rw, inner, node)  # (the cheap test first: most fail it)
            if k2 is not None:
                return Mul(const(k2, node), rw.make(Mul, t, other))
    return None


def _scalar_factor(rw, node, like):
    """(k, t) when `node` is k*t for a scalar constant k (of `like`'s dtype) and nothing
    else uses it, else (None, None)."""
    if isinstance(node, Mul) and not node.strong and node.dtype == like.dtype \
            and not rw.shared(node):
        k = scalar_constant(node.children[0])
        if k is not None and node.children[0].shape == () \
                and node.children[1].shape == node.shape:
            return k, node.children[1]
    return None, None


@rule("algebra", Negate, level=EXACT, operands=(Negate, Mul))
def negate_negation(rw, node):
    # --x -> x; -(k*x) -> (-k)*x
    x, = node.children
    if isinstance(x, Negate):
        return x.children[0]
    if node.dtype.kind not in "fc":
        return None
    k, t = split_coefficient(x)
    if k != 1:
        return scaled(rw, -k, t)
    return None


@rule("algebra", Pow, level=EXACT)
def trivial_power(rw, node):
    # x**1 -> x; x**0 -> 1
    x, e = node.children
    k = scalar_constant(e)
    if k is None or e.shape != () or node.dtype != x.dtype:
        return None
    if k == 1:
        return x
    if k == 0:
        return Constant(np.ones(node.shape, dtype=node.dtype))
    return None


@rule("algebra", Pow, operands=Pow)
def power_of_power(rw, node):
    # (x**a)**b -> x**(a*b) for integers a, b
    x, e = node.children
    k = scalar_constant(e)
    if k is None or e.shape != () or not float(k).is_integer() or not isinstance(x, Pow):
        return None
    inner = scalar_constant(x.children[1])
    if inner is not None and x.children[1].shape == () and float(inner).is_integer():
        return Pow(x.children[0], const(inner * k, node))
    return None


# --- shapes -------------------------------------------------------------------------------

@rule("algebra", Reshape, BroadcastTo, ReduceSumToShape, level=EXACT)
def drop_identity_shape_op(rw, node):
    # reshape(x, x.shape) -> x; broadcast_to(x, x.shape) -> x; sum_to(x, x.shape) -> x
    x, = node.children
    return x if x.shape == node.shape else None


@rule("algebra", Reshape, level=EXACT, operands=Reshape)
def reshape_of_reshape(rw, node):
    # reshape(reshape(x, s1), s2) -> reshape(x, s2)
    x, = node.children
    if isinstance(x, Reshape):
        return Reshape(x.children[0], node.shape)
    return None


@rule("algebra", Where, level=EXACT)
def where_same_branches(rw, node):
    # where(c, x, x) -> x; where(constant c, a, b) -> a or b
    c, a, b = node.children
    if a is b:
        return a
    if isinstance(c, Constant) and c.value.size and (np.all(c.value) or not np.any(c.value)):
        return a if np.all(c.value) else b
    return None


# --- einsum ---------------------------------------------------------------------------------

@rule("algebra", Einsum, level=EXACT)
def einsum_identity(rw, node):
    # einsum('ab->ab', x) -> x
    if len(node.children) == 1 and node.inputs[0] == node.output and \
            node.children[0].shape == node.shape:
        return node.children[0]
    return None


@rule("algebra", Einsum, operands=Einsum)
def fuse_single_operand_einsums(rw, node):
    # einsum(s, ..., einsum('ij->ji', x), ...) -> one einsum over x (transposes, sums,
    # diagonals of an operand are folded into the contraction that uses it)
    for k, child in enumerate(node.children):
        if isinstance(child, Einsum):
            if len(child.children) == 1 and len(set(child.inputs[0])) == len(child.inputs[0]):
                return _fuse(node, k, child)
    return None


def _fuse(node, k, inner):
    used = set("".join(node.inputs) + node.output)
    fresh = iter(l for l in LETTERS if l not in used)
    # inner output labels map onto the outer operand's labels; summed inner labels are new
    mapping = dict(zip(inner.output, node.inputs[k]))
    for label in inner.inputs[0]:
        if label not in mapping:
            mapping[label] = next(fresh)
    inner_subs = "".join(mapping[l] for l in inner.inputs[0])
    inputs = list(node.inputs)
    inputs[k] = inner_subs
    children = list(node.children)
    children[k] = inner.children[0]
    return Einsum(",".join(inputs) + "->" + node.output, *children)


@rule("algebra", Einsum, operands=Constant)
def drop_ones_operand(rw, node):
    # einsum('ij,j->i', x, ones) -> einsum('ij->i', x) when another operand carries j
    if len(node.children) < 2:
        return None
    for k, child in enumerate(node.children):
        if is_one(child):
            others = "".join(s for i, s in enumerate(node.inputs) if i != k)
            if set(node.inputs[k]) <= set(others) and all(
                    d == node.sizes[l] for l, d in zip(node.inputs[k], child.shape)):
                inputs = [s for i, s in enumerate(node.inputs) if i != k]
                children = [c for i, c in enumerate(node.children) if i != k]
                return Einsum(",".join(inputs) + "->" + node.output, *children)
    return None


@rule("algebra", Einsum, operands=Constant)
def drop_identity_operand(rw, node):
    # einsum('ij,jk->ik', x, eye) -> einsum('ik->ik', x): a contraction with an identity
    # matrix only renames a label (the seeds of jacobian and hessian are identities, and
    # folding them into a constant costs a product of the full size)
    if len(node.children) < 2:
        return None
    for k, child in enumerate(node.children):
        labels = node.inputs[k]
        if len(labels) != 2 or labels[0] == labels[1] or not is_identity(child):
            continue
        a, b = labels
        if a in node.output and b in node.output:
            continue  # the identity places values on a diagonal of the output
        old, new = (b, a) if b not in node.output else (a, b)
        others = [s for i, s in enumerate(node.inputs) if i != k]
        if not any(old in s for s in others):
            continue  # the identity's label is summed on its own: a trace, not a rename
        children = [c for i, c in enumerate(node.children) if i != k]
        return Einsum(",".join(s.replace(old, new) for s in others) + "->" + node.output,
                      *children)
    return None


def is_identity(node):
    """Whether `node` is a constant identity matrix."""
    if not isinstance(node, Constant) or node.ndim != 2 or node.shape[0] != node.shape[1] \
            or not node.shape[0]:
        return False
    value = node.value
    return bool(value[0, 0] == 1) and np.array_equal(value, np.eye(len(value)))


# --- lowering: canonical forms back to fast kernels ---------------------------------------

@rule("lower", Add, operands=Negate)
def sum_with_negations_as_subtract(rw, node):
    # a + -b -> a - b;  a + b + -c + -d -> (a + b) - (c + d)
    positive = [c for c in node.children if not isinstance(c, Negate)]
    negative = [c.children[0] for c in node.children if isinstance(c, Negate)]
    if not negative or not positive:
        return None
    if len(node.children) == 2:  # a + -b: as the sum, of its shape and dtype
        return in_place_of(node, Subtract, positive[0], negative[0])
    plus = positive[0] if len(positive) == 1 else rw.make(Add, *positive)
    minus = negative[0] if len(negative) == 1 else rw.make(Add, *negative)
    return Subtract(plus, minus)


def in_place_of(node, op, *children):
    """``op(*children)`` for a rule whose result has `node`'s shape and dtype by
    construction: a copy of `node` (its marks too) of another op, without inferring its
    shape and dtype again (a lowering builds thousands of these: a third of its time)."""
    new = object.__new__(op)
    new.__dict__.update(node.__dict__)
    new.children, new.params = children, {}
    return new


@rule("lower", Mul, operands=Pow)
def product_with_reciprocal_as_divide(rw, node):
    # a * b**-1 -> a / b
    if node.strong:
        return None
    a, b = node.children
    for p, q in ((a, b), (b, a)):
        if isinstance(q, Pow) and scalar_constant(q.children[1]) == -1 and \
                q.children[1].shape == () and not isinstance(p, Constant):
            return Divide(p, q.children[0])
    return None


@rule("lower", Mul, level=EXACT, operands=Constant)
def minus_one_times_as_negate(rw, node):
    # (-1) * x -> -x
    a, b = node.children
    if scalar_constant(a) == -1 and a.shape == () and not node.strong \
            and node.dtype.kind in "fc":
        return Negate(b)
    return None

