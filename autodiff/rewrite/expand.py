"""The polynomial pass of `simplify`: each maximal polynomial subexpression is expanded to
its normal form and emitted in Horner form when that takes no more nodes than it had.

This is what keeps nested derivatives small: d/dx of a polynomial in tanh(x) is again a
polynomial in tanh(x), and in normal form its size grows with the degree, not 2**order.
A `REAL` rewrite (an identity over the reals); nodes below that level are atoms.

The pass is linear in the graph: polynomials are computed once per node within a budget
of monomial operations proportional to the graph (polynomial.py), each node is counted
in the region of one root only, and a normal form is built only where a lower bound of
its size (its number of terms, less one: the sums that join them) says it may win.
"""
from ..core import context
from ..core.node import Constant
from ..core.traversal import topo_sort
from . import polynomial as P
from .engine import EXACT, FAST, REAL, conform, rebuild

#: Monomial operations the pass may spend per node of the graph as given (and at least
#: MIN_WORK): plenty for the normal forms of nested derivatives, whose graphs as given
#: are large, and a bound on graphs whose polynomials are large and gain nothing (an
#: unrolled ODE is a polynomial of huge degree).
WORK_PER_NODE = 8
MIN_WORK = 4096
#: Normal forms in more atoms than this are not emitted (Horner's form recurses once
#: per atom).
MAX_EMITTED_ATOMS = 64


def expand_polynomials(outputs, rw, given_size=0):
    """(`outputs` with polynomial subexpressions in normal form, built with `rw.make`;
    the nodes of their graph children first when that is the graph given, else None: the
    next pass need not walk it again). `given_size`: the number of nodes of the graph as
    the user gave it (the budget of polynomial work is proportional to it, or to the
    graph here if that is larger)."""
    order = topo_sort(outputs)
    atoms = P.Atoms()
    budget = P.Budget(max(MIN_WORK, WORK_PER_NODE * max(given_size, len(order))))
    polys, is_poly, roots = node_polynomials(order, rw, atoms, budget)
    roots.update(id(o) for o in outputs if id(o) in is_poly)
    forms, counted = {}, {}
    for node, region in region_sizes(order, roots, is_poly):
        emitted = normal_form(node, polys[id(node)], region, atoms, rw, counted)
        if emitted is not None:
            forms[id(node)] = emitted
    if forms:
        return replaced(order, outputs, forms, rw), None
    return list(outputs), order


def replaced(order, outputs, forms, rw):
    """`outputs` with the nodes of `forms` ({id(node): replacement}) replaced, and their
    consumers rebuilt (and rewritten) on the replacements."""
    mapped = {}
    for node in order:
        form = forms.get(id(node))
        if form is None:
            children = [mapped[id(c)] for c in node.children]
            form = node if all(a is b for a, b in zip(children, node.children)) else \
                rw.settle(rebuild(node, children))
        mapped[id(node)] = form
    return [mapped[id(o)] for o in outputs]


def node_polynomials(order, rw, atoms, budget):
    """({id(node): its polynomial}, ids of the nodes that are polynomial operations, ids
    of those that other nodes use as atoms): nodes that are not polynomial operations
    (or may not be rewritten at `REAL`) are atoms. The polynomial nodes used as atoms
    (found on the way: a walk of its own would cost a fifth of this one), and the
    outputs, are the roots whose normal forms may replace them."""
    algebras = {False: P.Algebra(laurent=False, budget=budget),
                True: P.Algebra(laurent=True, budget=budget)}
    polys, is_poly, roots, methods = {}, set(), set(), {}
    for node in order:  # (`to_poly` inlined for operations: this runs once per node)
        p = None
        if not node.children:
            if isinstance(node, Constant):
                p = P.to_poly(node, (), algebras[False])
        else:
            method = methods.get(type(node), False)
            if method is False:  # an op class met for the first time
                method = methods[type(node)] = getattr(type(node), "polynomial", None)
            level = rw.level_of(node) if method is not None else EXACT
            if level >= REAL and node.dtype.kind == "f":
                p = method(node, algebras[level >= FAST],
                           *map(polys.__getitem__, map(id, node.children)))
                if p is not None:
                    is_poly.add(id(node))
            if p is None:
                roots.update(k for k in map(id, node.children) if k in is_poly)
        polys[id(node)] = P.Algebra.atom(atoms.of(node)) if p is None else p
    return polys, is_poly, roots


def region_sizes(order, roots, is_poly):
    """(root, the number of polynomial nodes only its normal form would replace) for
    each root, in `order`: the nodes reached from the root through polynomial nodes, not
    through other roots, each counted for the first root that reaches it (so the walks
    are linear)."""
    free = is_poly - roots  # polynomial nodes no root has claimed yet
    for root in order:
        if id(root) not in roots:
            continue
        count, stack = 1, list(root.children)
        while stack:
            n = stack.pop()
            if id(n) in free:
                free.discard(id(n))
                count += 1
                stack.extend(n.children)
        yield root, count


def normal_form(node, p, region, atoms, rw, counted):
    """The normal form of `node` (polynomial `p`) when it has fewer nodes than the
    `region` it replaces, else None. `counted`: sizes of normal forms counted so far."""
    if region <= 2 or len(p) > region:
        return None  # nothing to gain, or as many sums as the region has nodes
    atoms_used = len(next(iter(p))) if len(p) == 1 else len({i for m in p for i, _ in m})
    if atoms_used > min(region, MAX_EMITTED_ATOMS):
        return None  # joining n atoms takes n - 1 sums or products at least
    if P.emitted_size(p, region - 1, counted) is None:
        return None  # counted without building: larger than what it would replace
    with context.like(node):  # the normal form takes the node's marks
        emitted = rw.settle(P.emit(p, atoms, rw.make, node))
        emitted = rw.settle(conform(emitted, node))
    return emitted if own_size(emitted, atoms, region) < region else None


def own_size(node, atoms, limit):
    """Distinct nodes of `node`'s subgraph above its atoms, counted up to `limit` + 1 (the
    walk stops there: only the comparison with `limit` matters)."""
    seen, stack = set(), [node]
    while stack and len(seen) <= limit:
        n = stack.pop()
        if id(n) in seen or id(n) in atoms.index or not n.children:
            continue
        seen.add(id(n))
        stack.extend(n.children)
    return len(seen)
