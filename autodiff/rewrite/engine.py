"""The rewrite engine: one near-linear pass that shares equal subgraphs and applies rules.

A pass walks the graph in topological order. For each node it

1. rebuilds the node on its children's rewritten versions (a structural copy),
2. applies the rules registered for the node's op until none fires (each rule returns an
   equivalent node of the same shape and dtype, or None),
3. interns the result by its structural key, so two equal subgraphs become one node.

Rules build their replacements with `Rewriter.make`, which runs the same rules on the new
node and interns it, so everything a rule creates is rewritten and shared too. Rules are
grouped in phases (`canonical`, `algebra`, `lower`): the first two run together; `lower`
runs in a second pass and turns canonical forms back into fast kernels (``a + -b`` into
``a - b``). What a rule builds is marked like the node it replaces (module scope,
derivative origin), so pictures of a rewritten graph keep their clusters and colours.

Every rule has a *level*, and each node a level it may be rewritten at:

* `EXACT`: the value is unchanged bit for bit, for every input (sharing equal subgraphs,
  folding constants with the op's own kernel, ``x*1``, ``--x``, reshape of reshape);
* `REAL`: an identity over the real numbers, for finite inputs, that never widens where
  the expression is defined; rounding may differ (regrouping sums, collecting like terms
  and integer powers, ``x*0 -> 0`` for an ``x`` that cannot be inf or NaN, fusing
  einsums, the polynomial normal form);
* `FAST`: also identities that hold only where values are finite and nonzero (``x/x ->
  1``, ``x**a * x**-a -> 1``, fractional powers merged across a sign, ``x*0 -> 0`` for
  any ``x``): a compiler's fast-math, only when asked for.

Orders that rules choose (the terms of a sum, the factors of a product) follow each
node's `rank`, its position in a deterministic walk of the graph, never object
identities: the same graph rewrites to the same graph, and the same bits, in every
process. The pass is iterative over the graph (no recursion over graph depth).
"""
import copy

import numpy as np

from ..core import context
from ..core.node import Constant, Variable
from ..core.traversal import topo_sort
from ..ops.logic import Cast
from ..ops.shape_ops import BroadcastTo

EXACT, REAL, FAST = 0, 1, 2
PHASES = ("canonical", "algebra", "lower")
RULES = {phase: {} for phase in PHASES}
MAX_REWRITES_PER_NODE = 50


def rule(phase, *op_types, level=REAL):
    """Register a rewrite for `op_types` (and their subclasses) in `phase`, applied to
    nodes that may be rewritten at `level`: ``fn(rewriter, node) -> node | None``.

    The rule sees `node` with its children already rewritten, and returns an equivalent
    node (any shape that broadcasts to the node's; the engine restores shape and dtype),
    or None when it does not apply. It builds sub-nodes with ``rewriter.make`` so they
    are rewritten and shared as well.
    """
    if phase not in RULES:
        raise ValueError(f"rule: unknown phase {phase!r}; phases are {PHASES}")

    def register(fn):
        for op in op_types:
            RULES[phase].setdefault(op, []).append((level, fn))
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
    """One rewriting pass: the interning table, node ranks, and the rules of `phases`.

    `level_of(node)` gives the highest rule level allowed for a node.
    """

    def __init__(self, phases, level_of):
        self.level_of = level_of
        self.table = {}
        self.final = {}      # id(node) -> its fixed point, once reached
        self.active = set()  # ids of nodes being settled (a rule may rebuild one)
        self.finite = {}     # id(node) -> whether its value is always finite (rules.py)
        self.ranks = {}      # id(node) -> position in this pass's walk (see `rank`)
        self._kept = []      # nodes whose ids are keys above: alive for the whole pass
        self.rules = {}
        self._phases = phases

    def rank(self, node):
        """The node's position in this pass's walk: a deterministic order for rules that
        must pick one (the terms of a sum), independent of where objects live."""
        r = self.ranks.get(id(node))
        if r is None:
            r = self.ranks[id(node)] = len(self.ranks)
            self._kept.append(node)
        return r

    def allows(self, node, level):
        """Whether `node` may be rewritten by rules of `level`."""
        return self.level_of(node) >= level

    def intern(self, node):
        """The one node standing for `node`'s structure in this pass."""
        if isinstance(node, Variable):
            self.rank(node)
            return node
        # rules build constants inline: share them first, so keys see one node per value
        children = [self.table.setdefault(c.key(), c) if isinstance(c, Constant) else c
                    for c in node.children]
        node = rebuild(node, children)
        node = self.table.setdefault(node.key(), node)
        self.rank(node)
        return node

    def make(self, op, *args, **kwargs):
        """Build ``op(*args, **kwargs)`` (children already rewritten), rewrite, intern."""
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
            with context.like(start):
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
        cls = type(node)
        rules = self.rules.get(cls)
        if rules is None:  # collected once per op class, base classes' rules included
            rules = self.rules[cls] = [
                (level, fn) for phase in self._phases for base in cls.__mro__
                for level, fn in RULES[phase].get(base, ())]
        level = self.level_of(node)
        return [fn for rule_level, fn in rules if rule_level <= level]

    def run(self, outputs):
        """Rewritten versions of `outputs` (a list of nodes)."""
        order = topo_sort(outputs)
        for node in order:
            self.rank(node)
        mapped = {}
        for node in order:
            children = [mapped[id(c)] for c in node.children]
            mapped[id(node)] = self.settle(rebuild(node, children))
        return [mapped[id(o)] for o in outputs]


def conform(new, old):
    """`new` made to have `old`'s shape and dtype (rules may drop broadcasting)."""
    if new.shape != old.shape:
        new = BroadcastTo(new, old.shape)
    if new.dtype != old.dtype:
        new = Cast(new, old.dtype)
    return new


def scalar_constant(node):
    """The Python float of a Constant with a single repeated value, else None."""
    if not isinstance(node, Constant) or node.dtype == bool or node.dtype.kind == "c":
        return None
    v = node.value
    if v.size == 0:
        return None
    first = v.flat[0]
    if v.size == 1 or np.all(v == first):
        return float(first)
    return None


def uniform_level(level):
    """A `level_of` giving every node `level`."""
    return lambda node: level


def program_level(fast_math=False):
    """The `level_of` used before a graph runs: what the user wrote (nodes that are not
    derivatives) is computed exactly as written, derivative parts are rewritten at the
    `REAL` level; with `fast_math`, everything at the `FAST` level."""
    if fast_math:
        return uniform_level(FAST)
    return lambda node: EXACT if node.derivative_of is None else REAL

