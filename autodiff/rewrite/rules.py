"""The rewrite rules, each small and named, with its algebra in a comment.

A rule receives the rewriter and a node whose children are already simplified; it returns
an equivalent node (of any shape that broadcasts to the original; the engine restores the
shape) or None when it does not apply. Sub-nodes are built with ``rw.make`` so they are
simplified and shared as well.

Like every computer-algebra system, the algebra phase assumes finite values: ``x*0 -> 0``
and ``x/x -> 1`` are applied even though numpy gives NaN for inf*0 or 0/0.
"""
import numpy as np

from ..core.node import Node, Constant
from ..ops import elementwise as ew
from ..ops.einsum import Einsum, LETTERS
from ..ops.shape_ops import Reshape, BroadcastTo, ReduceSumToShape
from .engine import rule, scalar_constant

MAX_FOLDED_SIZE = 1 << 20


def const(value, like):
    """A Constant with `like`'s dtype."""
    return Constant(np.asarray(value, dtype=like.dtype))


# --- canonical forms ---------------------------------------------------------------------

@rule("canonical", ew.Subtract)
def subtract_as_sum(rw, node):
    # a - b -> a + -b
    a, b = node.children
    return ew.Add(a, rw.make(ew.Negate, b))


@rule("canonical", ew.Divide)
def divide_as_power(rw, node):
    # a / b -> a * b**-1
    a, b = node.children
    return ew.Mul(a, rw.make(ew.Pow, b, const(-1, node)))


@rule("canonical", ew.Recipr)
def reciprocal_as_power(rw, node):
    # 1/x -> x**-1
    x, = node.children
    return ew.Pow(x, const(-1, node))


@rule("canonical", ew.Mul)
def strong_zero_of_finite_factors(rw, node):
    # strong(0, b) -> 0; strong(a, b) -> a*b when neither factor can be inf or NaN
    if not node.params.get("strong_zero"):
        return None
    a, b = node.children
    if isinstance(a, Constant) and not np.any(a.value):
        return Constant(np.zeros(node.shape, dtype=node.dtype))
    if always_finite(rw, a) and always_finite(rw, b):
        return ew.Mul(a, b)
    return None


# ops whose value is finite whenever their inputs are (bounded, or polynomial)
FINITE_OPS = (ew.Add, ew.Subtract, ew.Mul, ew.Negate, ew.Tanh, ew.Sin, ew.Cos, ew.Sigmoid,
              ew.Step, ew.Sign, ew.Abs, ew.ReLU, ew.Where, ew.Comparison, Einsum, Reshape,
              BroadcastTo, ReduceSumToShape)


def always_finite(rw, node):
    """True when `node` is finite for every finite value of its Variables (memoised in the
    rewriter; iterative, so any depth works)."""
    cache = rw.finite
    stack = [node]
    while stack:
        n = stack[-1]
        if id(n) in cache:
            stack.pop()
            continue
        pending = [c for c in n.children if id(c) not in cache]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        cache[id(n)] = _finite_given_children(n, [cache[id(c)] for c in n.children])
    return cache[id(node)]


def _finite_given_children(node, children_finite):
    if isinstance(node, Constant):
        return bool(np.all(np.isfinite(node.value)))
    if not node.children:
        return True  # a Variable: values are assumed finite, as everywhere in algebra
    if not all(children_finite):
        return False
    if isinstance(node, ew.Pow):
        k = scalar_constant(node.children[1])
        return k is not None and k >= 0 and float(k).is_integer()
    return isinstance(node, FINITE_OPS)


# --- constants -----------------------------------------------------------------------------

@rule("algebra", Node)
def fold_constants(rw, node):
    # op(constants) -> constant
    if not node.children or not all(isinstance(c, Constant) for c in node.children):
        return None
    if node.size > MAX_FOLDED_SIZE:
        return None
    with np.errstate(all="ignore"):
        value = node.kernel()(*[c.value for c in node.children])
    return Constant(np.asarray(value, dtype=node.dtype))


# Nested sums are flattened up to this many terms: wider sums stay chains, so that their
# terms need not all be alive at once (a recurrent weight's gradient sums one term a step).
MAX_SUM_WIDTH = 32

# children that the sum and product rules may combine or reorder
_SUM_PARTS = (ew.Add, Constant, ew.Negate, ew.Mul)
_PRODUCT_PARTS = (ew.Mul, Constant, ew.Negate, ew.Pow)


# --- sums -----------------------------------------------------------------------------------

def split_coefficient(node):
    """(k, t) with node == k * t for a scalar constant k (1 when there is none)."""
    if isinstance(node, ew.Negate):
        return -1.0, node.children[0]
    if isinstance(node, ew.Mul) and not node.params.get("strong_zero"):
        k = scalar_constant(node.children[0])
        if k is not None and node.children[0].shape == () or \
                k is not None and node.children[1].shape == node.shape:
            return k, node.children[1]
    return 1.0, node


def scaled(rw, k, t):
    """The node k * t, simplest form."""
    if k == 1:
        return t
    if k == -1:
        return rw.make(ew.Negate, t)
    return rw.make(ew.Mul, const(k, t), t)


def _one_dtype(node):
    """Whether `node` and its operands share one dtype, so that regrouping its terms or
    adding its constants first gives the same values (bool + bool is a logical or, and
    small integers wrap, where a float sum would not)."""
    return all(c.dtype == node.dtype for c in node.children)


@rule("algebra", ew.Add)
def collect_sums(rw, node):
    # nested sums flattened; x + 0 -> x; a*x + b*x -> (a+b)*x; constants summed
    if not _one_dtype(node):
        return None  # mixed dtypes (bool masks, small integers): numpy's order decides
    if len(set(map(id, node.children))) == len(node.children) and \
            not any(isinstance(c, _SUM_PARTS) for c in node.children) and \
            list(node.children) == sorted(node.children, key=id):
        return None  # distinct plain terms in canonical order: nothing to collect
    coefficients, bases, constant = {}, {}, None
    pending = list(node.children)
    width = len(pending)
    while pending:
        child = pending.pop()
        if isinstance(child, ew.Add) and _one_dtype(child) and child.dtype == node.dtype \
                and width + len(child.children) - 1 <= MAX_SUM_WIDTH:
            pending.extend(child.children)
            width += len(child.children) - 1
        elif isinstance(child, Constant):
            constant = child.value if constant is None else constant + child.value
        else:
            k, t = split_coefficient(child)
            coefficients[id(t)] = coefficients.get(id(t), 0.0) + k
            bases[id(t)] = t
    terms = [scaled(rw, coefficients[i], bases[i]) for i in sorted(bases)
             if coefficients[i] != 0]
    terms.sort(key=id)  # one order for every permutation of the same sum
    if constant is not None and np.any(constant != 0):
        terms.append(const(constant, node))
    if not terms:
        return Constant(np.zeros(node.shape, dtype=node.dtype))
    if len(terms) == 1:
        return terms[0]
    candidate = ew.Add(*terms)
    return None if candidate.key() == node.key() else candidate


# --- products -------------------------------------------------------------------------------

def factor_powers(node, powers, order):
    """Collect `node`'s factors into {id(base): exponent}; return the scalar coefficient and
    the non-uniform Constant nodes among the factors."""
    coefficient, arrays = 1.0, []
    pending = [node]
    while pending:
        f = pending.pop()
        k = scalar_constant(f)
        if k is not None:
            coefficient *= k
        elif isinstance(f, Constant):
            arrays.append(f)
        elif isinstance(f, ew.Mul) and not f.params.get("strong_zero"):
            pending.extend(f.children)
        elif isinstance(f, ew.Negate):
            coefficient = -coefficient
            pending.append(f.children[0])
        else:
            base, exponent = f, 1.0
            if isinstance(f, ew.Pow) and scalar_constant(f.children[1]) is not None \
                    and f.children[1].shape == ():
                base, exponent = f.children[0], scalar_constant(f.children[1])
            if id(base) not in powers:
                order.append(base)
            powers[id(base)] = powers.get(id(base), 0.0) + exponent
    return coefficient, arrays


@rule("algebra", ew.Mul)
def collect_products(rw, node):
    # x*1 -> x; x*0 -> 0; x**a * x**b -> x**(a+b); -a*b -> -(a*b); constants multiplied
    if node.params.get("strong_zero"):
        return None
    a, b = node.children
    if a is not b and not any(isinstance(c, _PRODUCT_PARTS) for c in node.children):
        return None  # two distinct plain factors: nothing to collect
    powers, bases = {}, []
    coefficient, arrays = factor_powers(node, powers, bases)
    if coefficient == 0 or any(not np.any(a.value) for a in arrays):
        return Constant(np.zeros(node.shape, dtype=node.dtype))
    factors = []
    for base in sorted(bases, key=id):
        e = powers[id(base)]
        if e == 1:
            factors.append(base)
        elif e != 0:
            factors.append(rw.make(ew.Pow, base, const(e, node)))
    if len(arrays) == 1:  # reuse the node: large constants are compared by identity
        factors.append(arrays[0])
    elif arrays:
        product = arrays[0].value
        for a in arrays[1:]:
            product = product * a.value
        factors.append(const(product, node))
    if not factors:
        return const(np.full(node.shape, coefficient), node)
    result = factors[0]
    for f in factors[1:]:
        result = rw.make(ew.Mul, result, f)
    if coefficient != 1:
        if coefficient == -1:
            result = ew.Negate(result)
        else:
            result = ew.Mul(const(coefficient, node), result)
    return None if result.key() == node.key() else result


@rule("algebra", ew.Negate)
def negate_negation(rw, node):
    # --x -> x; -(k*x) -> (-k)*x
    x, = node.children
    if isinstance(x, ew.Negate):
        return x.children[0]
    k, t = split_coefficient(x)
    if k != 1:
        return scaled(rw, -k, t)
    return None


@rule("algebra", ew.Pow)
def simplify_power(rw, node):
    # x**1 -> x; x**0 -> 1; (x**a)**b -> x**(a*b) for integers a, b
    x, e = node.children
    k = scalar_constant(e)
    if k is None or e.shape != ():
        return None
    if k == 1:
        return x
    if k == 0:
        return Constant(np.ones(node.shape, dtype=node.dtype))
    if isinstance(x, ew.Pow) and float(k).is_integer():
        inner = scalar_constant(x.children[1])
        if inner is not None and x.children[1].shape == () and float(inner).is_integer():
            return ew.Pow(x.children[0], const(inner * k, node))
    return None


# --- shapes -------------------------------------------------------------------------------

@rule("algebra", Reshape, BroadcastTo, ReduceSumToShape)
def drop_identity_shape_op(rw, node):
    # reshape(x, x.shape) -> x; broadcast_to(x, x.shape) -> x; sum_to(x, x.shape) -> x
    x, = node.children
    return x if x.shape == node.shape else None


@rule("algebra", Reshape)
def reshape_of_reshape(rw, node):
    # reshape(reshape(x, s1), s2) -> reshape(x, s2)
    x, = node.children
    if isinstance(x, Reshape):
        return Reshape(x.children[0], node.shape)
    return None


@rule("algebra", ew.Where)
def where_same_branches(rw, node):
    # where(c, x, x) -> x; where(constant c, a, b) -> a or b
    c, a, b = node.children
    if a is b:
        return a
    if isinstance(c, Constant) and c.value.size and (np.all(c.value) or not np.any(c.value)):
        return a if np.all(c.value) else b
    return None


# --- einsum ---------------------------------------------------------------------------------

@rule("algebra", Einsum)
def einsum_identity(rw, node):
    # einsum('ab->ab', x) -> x
    if len(node.children) == 1 and node.inputs[0] == node.output and \
            node.children[0].shape == node.shape:
        return node.children[0]
    return None


@rule("algebra", Einsum)
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


@rule("algebra", Einsum)
def drop_ones_operand(rw, node):
    # einsum('ij,j->i', x, ones) -> einsum('ij->i', x) when another operand carries j
    if len(node.children) < 2:
        return None
    for k, child in enumerate(node.children):
        if scalar_constant(child) == 1.0:
            others = "".join(s for i, s in enumerate(node.inputs) if i != k)
            if set(node.inputs[k]) <= set(others) and node.sizes and all(
                    d == node.sizes[l] for l, d in zip(node.inputs[k], child.shape)):
                inputs = [s for i, s in enumerate(node.inputs) if i != k]
                children = [c for i, c in enumerate(node.children) if i != k]
                return Einsum(",".join(inputs) + "->" + node.output, *children)
    return None


# --- lowering: canonical forms back to fast kernels ---------------------------------------

@rule("lower", ew.Add)
def sum_with_negations_as_subtract(rw, node):
    # a + -b -> a - b;  a + b + -c + -d -> (a + b) - (c + d)
    positive = [c for c in node.children if not isinstance(c, ew.Negate)]
    negative = [c.children[0] for c in node.children if isinstance(c, ew.Negate)]
    if not negative or not positive:
        return None
    plus = positive[0] if len(positive) == 1 else rw.make(ew.Add, *positive)
    minus = negative[0] if len(negative) == 1 else rw.make(ew.Add, *negative)
    return ew.Subtract(plus, minus)


@rule("lower", ew.Mul)
def product_with_reciprocal_as_divide(rw, node):
    # a * b**-1 -> a / b
    if node.params.get("strong_zero"):
        return None
    a, b = node.children
    for p, q in ((a, b), (b, a)):
        if isinstance(q, ew.Pow) and scalar_constant(q.children[1]) == -1 and \
                q.children[1].shape == () and not isinstance(p, Constant):
            return ew.Divide(p, q.children[0])
    return None


@rule("lower", ew.Mul)
def minus_one_times_as_negate(rw, node):
    # (-1) * x -> -x
    a, b = node.children
    if scalar_constant(a) == -1 and a.shape == () and not node.params.get("strong_zero"):
        return ew.Negate(b)
    return None

