"""The polynomial pass of `simplify`: each maximal polynomial subexpression is expanded to
its normal form and emitted in Horner form when that takes no more nodes than it had.

This is what keeps nested derivatives small: d/dx of a polynomial in tanh(x) is again a
polynomial in tanh(x), and in normal form its size grows with the degree, not 2**order.
A `REAL` rewrite (an identity over the reals); nodes below that level are atoms.
"""
from ..core import context
from ..core.traversal import topo_sort
from . import polynomial as P
from .engine import FAST, REAL, conform, rebuild


def expand_polynomials(outputs, rw):
    """`outputs` with polynomial subexpressions in normal form (built with `rw.make`)."""
    order = topo_sort(outputs)
    atoms = P.Atoms()
    algebras = {False: P.Algebra(laurent=False), True: P.Algebra(laurent=True)}
    polys, is_poly = {}, set()
    for node in order:
        p = None
        if rw.allows(node, REAL) or not node.children:
            algebra = algebras[rw.allows(node, FAST)]
            p = P.to_poly(node, [polys[id(c)] for c in node.children], algebra)
        if p is None or (not node.children and p):  # leaves other than constants are atoms
            p = P.Algebra.atom(atoms.of(node)) if p is None else p
        else:
            is_poly.add(id(node))
        polys[id(node)] = p
    # a polynomial node is a root when something consumes it as an atom, or it is an output
    roots = {id(o) for o in outputs if id(o) in is_poly}
    for node in order:
        if id(node) not in is_poly:
            roots.update(id(c) for c in node.children if id(c) in is_poly)
    mapped = {}
    for node in order:
        new = rw.settle(rebuild(node, [mapped[id(c)] for c in node.children]))
        if id(node) in roots and node.children and _own_size(new, atoms) > 2:
            with context.like(node):  # the normal form takes the node's marks
                emitted = rw.settle(P.emit(polys[id(node)], atoms, rw.make, node))
                emitted = rw.settle(conform(emitted, node))
            if _own_size(emitted, atoms) <= _own_size(new, atoms):
                new = emitted
        mapped[id(node)] = new
    return [mapped[id(o)] for o in outputs]


def _own_size(node, atoms):
    """Distinct nodes of `node`'s subgraph above its atoms."""
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if id(n) in seen or id(n) in atoms.index:
            continue
        seen.add(id(n))
        stack.extend(n.children)
    return len(seen)
