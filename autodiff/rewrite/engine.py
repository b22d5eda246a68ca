"""The rewrite engine: one near-linear pass that shares equal subgraphs and applies rules.

`simplify(nodes)` walks the graph in topological order. For each node it

1. rebuilds the node on its children's simplified versions (a structural copy),
2. applies the rules registered for the node's op until none fires (each rule returns an
   equivalent node of the same shape and dtype, or None),
3. interns the result by its structural key, so two equal subgraphs become one node.

Rules build their replacements with `Rewriter.make`, which runs the same rules on the new
node and interns it, so everything a rule creates is simplified and shared too. Rules are
grouped in phases (`canonical`, `algebra`, `lower`): the first two run together on every
node; `lower` runs in a second pass and turns canonical forms back into fast kernels
(``a + -b`` into ``a - b``).

The pass is iterative over the graph (no recursion over graph depth); recursion happens
only inside rule outputs, whose depth is a few nodes.
"""
import copy

import numpy as np

from ..core.gcpause import gc_paused
from ..core.node import Node, Constant, Variable
from ..core.traversal import topo_sort

RULES = {"canonical": {}, "algebra": {}, "lower": {}}
MAX_REWRITES_PER_NODE = 50


def rule(phase, *op_types):
    """Register a rewrite for `op_types` in `phase`: ``fn(rewriter, node) -> node | None``."""
    def register(fn):
        for op in op_types:
            RULES[phase].setdefault(op, []).append(fn)
        return fn
    return register


def rebuild(node, children):
    """A copy of `node` on new `children` (of the same shapes and dtypes)."""
    if all(a is b for a, b in zip(node.children, children)):
        return node
    clone = copy.copy(node)
    clone.children = tuple(children)
    return clone


class Rewriter:
    """One simplification pass: the interning table and the rules of the active phases."""

    def __init__(self, phases):
        self.table = {}
        self.final = {}      # id(node) -> its fixed point, once reached
        self.active = set()  # ids of nodes being settled (a rule may rebuild one)
        self.finite = {}     # id(node) -> whether its value is always finite (rules.py)
        self.rules = {}
        for phase in phases:
            for op, fns in RULES[phase].items():
                self.rules.setdefault(op, []).extend(fns)

    def intern(self, node):
        """The one node standing for `node`'s structure in this pass."""
        if isinstance(node, Variable):
            return node
        # rules build constants inline: share them first, so keys see one node per value
        children = [self.table.setdefault(c.key(), c) if isinstance(c, Constant) else c
                    for c in node.children]
        node = rebuild(node, children)
        return self.table.setdefault(node.key(), node)

    def make(self, op, *args, **kwargs):
        """Build ``op(*args, **kwargs)`` (children already simplified), simplify, intern."""
        return self.settle(op(*args, **kwargs))

    def settle(self, node):
        """Apply rules to `node` until none fires; return the interned result."""
        start = node = self.intern(node)
        if id(start) in self.final:
            return self.final[id(start)]
        if id(start) in self.active:  # a rule rebuilt the node it is rewriting
            return start
        self.active.add(id(start))
        try:
            for _ in range(MAX_REWRITES_PER_NODE):
                replacement = None
                for fn in self._rules_for(node):
                    replacement = fn(self, node)
                    if replacement is not None and replacement is not node:
                        break
                if replacement is None or replacement is node:
                    break
                replacement = self.intern(conform(replacement, node))
                if replacement is node:  # the same structure rebuilt: a fixed point
                    break
                node = replacement
                if id(node) in self.final:
                    node = self.final[id(node)]
                    break
        finally:
            self.active.discard(id(start))
        self.final[id(start)] = self.final[id(node)] = node
        return node

    def _rules_for(self, node):
        rules = self.rules.get(type(node), [])
        generic = self.rules.get(Node, [])
        return rules + generic if generic else rules

    def run(self, outputs):
        """Simplified versions of `outputs` (a list of nodes)."""
        mapped = {}
        for node in topo_sort(outputs):
            children = [mapped[id(c)] for c in node.children]
            mapped[id(node)] = self.settle(rebuild(node, children))
        return [mapped[id(o)] for o in outputs]


def conform(new, old):
    """`new` made to have `old`'s shape and dtype (rules may drop broadcasting)."""
    from ..ops.shape_ops import BroadcastTo
    from ..ops.elementwise import Cast
    if new.shape != old.shape:
        new = BroadcastTo(new, old.shape)
    if new.dtype != old.dtype:
        new = Cast(new, old.dtype)
    return new


def simplify(nodes):
    """Equivalent nodes with equal subgraphs shared, constants folded and algebraic
    identities applied (see autodiff/rewrite/rules.py for the list).

    Takes a node or a list of nodes and returns the same structure. Values are unchanged
    (up to floating-point reassociation), and so are shapes and dtypes.
    """
    single = isinstance(nodes, Node)
    outputs = [nodes] if single else list(nodes)
    from .expand import expand_polynomials
    with gc_paused():
        rewriter = Rewriter(["canonical", "algebra"])
        simplified = expand_polynomials(rewriter.run(outputs), rewriter)
        lowered = Rewriter(["lower"]).run(simplified)
    return lowered[0] if single else lowered


def constant_value(node):
    """The numpy value of a Constant node, else None."""
    return node.value if isinstance(node, Constant) else None


def scalar_constant(node):
    """The Python float of a Constant with a single repeated value, else None."""
    if not isinstance(node, Constant) or node.dtype == bool:
        return None
    v = node.value
    if v.size == 0:
        return None
    first = v.flat[0]
    if v.size == 1 or np.all(v == first):
        return float(first)
    return None
