"""The rewrite engine: one near-linear pass that shares equal subgraphs and applies rules.

A pass walks the graph in topological order. For each node it

1. looks up the node's structure on its children's rewritten versions (its op, its
   parameters and its children) in the interning table, so two equal subgraphs become
   one node; only a structure met for the first time is copied,
2. applies the rules registered for the node's op until none fires (each rule returns an
   equivalent node of the same shape and dtype, or None).

Rules build their replacements with `Rewriter.make`, which runs the same rules on the new
node and interns it, so everything a rule creates is rewritten and shared too. Rules are
grouped in phases (`canonical`, `algebra`, `lower`): the first two run together; `lower`
runs in a second pass and turns canonical forms back into fast kernels (``a + -b`` into
``a - b``). What a rule builds is marked like the node it replaces (module scope,
derivative origin), so pictures of a rewritten graph keep their clusters and colours.

A pass costs a few dictionary lookups per node, plus the rules' own work, and the rules
look at a node and its children only (sums and products also through operands nothing
else uses, to a bounded width; a sum used only by a sum is opened once, by the outermost
one: `leave_open`). So rewriting is linear in the graph, and costs a few times what
building it did.

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
from collections import Counter
from itertools import chain
from operator import attrgetter, is_

import numpy as np

from ..core.node import Constant, Node, Variable
from ..core.params import freeze
from ..core.traversal import topo_sort
from ..ops.logic import Cast
from ..ops.shape_ops import BroadcastTo

EXACT, REAL, FAST = 0, 1, 2
PHASES = ("canonical", "algebra", "lower")
RULES = {phase: {} for phase in PHASES}
MAX_REWRITES_PER_NODE = 50


def rule(phase, *op_types, level=REAL, operands=None):
    """Register a rewrite for `op_types` (and their subclasses) in `phase`, applied to
    nodes that may be rewritten at `level`: ``fn(rewriter, node) -> node | None``.

    The rule sees `node` with its children already rewritten, and returns an equivalent
    node (any shape that broadcasts to the node's; the engine restores shape and dtype),
    or None when it does not apply. It builds sub-nodes with ``rewriter.make`` so they
    are rewritten and shared as well. `operands`: a class or tuple of classes; the rule
    is only tried on nodes with an operand of one of them (the engine sorts rules out by
    the operands' classes once, instead of calling every rule on every node).
    """
    if phase not in RULES:
        raise ValueError(f"rule: unknown phase {phase!r}; phases are {PHASES}")
    if operands is not None and not isinstance(operands, tuple):
        operands = (operands,)

    def register(fn):
        for op in op_types:
            RULES[phase].setdefault(op, []).append((level, fn, operands))
        return fn
    return register


#: op class -> tests ``fn(rewriter, node, consumer) -> bool`` (see `leave_open`)
OPEN_TESTS = {}


def leave_open(*op_types):
    """Register ``fn(rewriter, node, consumer) -> bool`` for nodes of `op_types` (exactly
    those classes): a node it accepts, used by one node only (`consumer`, both as given),
    is not rewritten on its own but left *open* (`Rewriter.is_open`) for the consumer's
    rules to take apart. A sum inside a sum is then opened once, at the outermost sum,
    instead of once at every level."""
    def register(fn):
        for op in op_types:
            OPEN_TESTS.setdefault(op, []).append(fn)
        return fn
    return register


def rebuild(node, children):
    """A copy of `node` on new `children` (of the same shapes and dtypes)."""
    if all(map(is_, node.children, children)):
        return node
    clone = object.__new__(type(node))  # copy.copy, without its generic machinery
    clone.__dict__.update(node.__dict__)
    clone.children = tuple(children)
    return clone


def structural_key(node, children, frozen=None):
    """`node.key()` for `node`'s op on `children`, without building that node; None for
    an op with a key of its own (leaves, opaque ops), which the caller asks directly.
    `frozen`: a dict remembering frozen parameters (by their items) between calls."""
    cls = type(node)
    if cls.key is not _NODE_KEY:
        return None
    ids = tuple(map(id, children))
    if len(ids) == 2 and ids[0] > ids[1] and node.commutative:
        ids = (ids[1], ids[0])
    params = node.params
    if not params:
        return cls, (), ids
    if frozen is None:
        return cls, freeze(params), ids
    items = tuple(params.items())
    try:
        p = frozen.get(items)
    except TypeError:  # unhashable parameter values (lists, arrays)
        return cls, freeze(params), ids
    if p is None:
        p = frozen[items] = freeze(params)
    return cls, p, ids


_NODE_KEY = Node.key


class Rewriter:
    """One rewriting pass: the interning table, node ranks, and the rules of `phases`.

    `level_of(node)` gives the highest rule level allowed for a node. The pass costs a
    few dictionary lookups per node when no rule fires, and what the rules that fire
    build: rules look at a node and its children (sums and products also through
    children nothing else uses, up to a bounded width), never at whole subgraphs.
    """

    def __init__(self, phases, level_of, after=None):
        self.level_of = level_of
        self.final = {}      # id(node) -> its fixed point, once reached
        self.uses = {}       # id(node) -> its consumers in the graph (see `shared`)
        self.open = set()    # ids of nodes left for their consumer (see `leave_open`)
        self.order = []      # the graph `run` was last given, children first
        self._rules = {}     # (op class, level) -> the rule functions that apply
        self._phases = phases
        self._marks = None   # (scope, derivative_of) of the node being settled, if any
        if after is None:
            self.table = {}      # structural key -> the node standing for it
            self.interned = set()  # ids of the leaves in `table` (marked and ranked once)
            self.finite = {}     # id(node) -> whether its value is always finite (rules.py)
            self.ranks = {}      # id(node) -> position in this pass's walk (see `rank`)
            self._kept = []      # nodes whose ids are keys above: alive for the whole pass
            self._frozen = {}    # parameter items -> frozen parameters (for keys)
        else:  # a later pass over `after`'s result: its nodes are interned already
            self.table, self.interned, self.finite = after.table, after.interned, after.finite
            self.ranks, self._kept, self._frozen = after.ranks, after._kept, after._frozen

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

    def shared(self, node):
        """Whether more than one node (or an output) of the graph being rewritten uses
        `node`: a rule that merged such a node into its parent would copy its work
        instead of sharing it. (Counted on the graph as given, carried to what each node
        becomes; nodes the rules build count as unshared.)"""
        return self.uses.get(id(node), 0) > 1

    def is_open(self, node):
        """Whether `node` was left open for its one consumer to take apart (its rules
        have not run: the consumer's rules must absorb it)."""
        return id(node) in self.open

    def intern(self, node):
        """The one node standing for `node`'s structure in this pass."""
        return self.intern_as(node, node.children)

    def intern_as(self, node, children):
        """The one node standing for `node`'s op applied to `children`: found in the
        table when it exists, so that no copy of `node` is made for nothing."""
        if not children:
            if isinstance(node, Variable):
                self.rank(node)
                return node
            found = self.table.setdefault(node.key(), node)
            if found is node and id(node) not in self.interned:
                self._mark(node)
                self.interned.add(id(node))
                self.rank(node)
            return found
        table = self.table
        # rules build constants inline: share them first, so keys see one node per value
        for c in children:
            if isinstance(c, Constant):
                children = [table.setdefault(c.key(), c) if isinstance(c, Constant) else c
                            for c in children]
                break
        key = structural_key(node, children, self._frozen)
        if key is None:
            node = rebuild(node, children)
            key = node.key()
        found = table.get(key)
        if found is not None:
            return found
        node = rebuild(node, children)
        table[key] = node  # (which keeps it alive: its id is a key of `ranks`)
        if self._marks is not None:
            node.scope, node.derivative_of = self._marks  # see `_mark`
        ranks = self.ranks
        if id(node) not in ranks:
            ranks[id(node)] = len(ranks)
        return node

    def _mark(self, node):
        """Give a node a rule built the marks of the node being rewritten (its module
        scope and derivative origin), as if built in `context.like` of it: setting the
        build context for every node a pass looks at would cost more than its rules."""
        if self._marks is not None:
            node.scope, node.derivative_of = self._marks

    def make(self, op, *args, **kwargs):
        """Build ``op(*args, **kwargs)`` (children already rewritten), rewrite, intern."""
        return self.settle(op(*args, **kwargs))

    def settle(self, node):
        """Apply rules to `node` until none fires; return the interned result."""
        return self._settle(self.intern(node))

    def _settle(self, start):
        final = self.final
        done = final.get(id(start))
        if done is not None:
            return done
        # until its rules are done, a node stands for itself (a rule may rebuild it)
        final[id(start)] = start
        rules = self._rules_for(start)
        if not rules:
            return start
        outer, self._marks = self._marks, (start.scope, start.derivative_of)
        try:
            node = self._apply(start, rules)
        finally:
            self._marks = outer
        if node is not start:
            final[id(start)] = final[id(node)] = node
        return node

    def _apply(self, node, rules):
        """`node` after its rules, applied until none fires (or MAX_REWRITES_PER_NODE)."""
        for _ in range(MAX_REWRITES_PER_NODE):
            replacement = None
            for fn in rules:
                replacement = fn(self, node)
                if replacement is not None and replacement is not node:
                    break
            if replacement is None or replacement is node:
                break
            replacement = self.intern(conform(replacement, node))
            if replacement is node:  # the same structure rebuilt: a fixed point
                break
            node = replacement
            done = self.final.get(id(node))
            if done is not None:
                return done
            rules = self._rules_for(node)
        return node

    def _rules_for(self, node):
        """The rules that apply to `node` (by its op, level and operand classes)."""
        key = (type(node), self.level_of(node), tuple(map(type, node.children)))
        rules = self._rules.get(key)
        if rules is None:  # collected once per op, level and operand classes
            rules = self._rules[key] = applicable_rules(self._phases, *key)
        return rules

    def run(self, outputs, order=None):
        """Rewritten versions of `outputs` (a list of nodes). `order`: the graph's nodes,
        children first (as `topo_sort` and `walk` give them), when the caller has them:
        counting uses along it costs a fraction of a walk."""
        if order is None:
            order, uses, consumer = walk(outputs)
        else:
            uses, consumer = graph_uses(outputs, order)
        self.order = order
        if not self.ranks:  # the common case: ranks are positions in the walk
            self.ranks.update(zip(map(id, order), range(len(order))))
            self._kept.extend(order)
        else:
            for node in order:
                self.rank(node)
        mapped, final, rewritten_uses = {}, self.final, self.uses
        for node in order:  # (the loop body is inlined: it runs once per node)
            # the node on its children's rewritten versions (itself, when they are its own
            # and no node met before has its structure)
            new = self.intern_as(node, [mapped[id(c)] for c in node.children])
            k = id(node)
            n = uses[k]
            tests = OPEN_TESTS.get(type(node)) if n == 1 else None
            user = consumer.get(k) if tests else None  # None for an output
            if user is not None and id(new) not in final and \
                    any(test(self, node, user) for test in tests):
                self.open.add(id(new))
            else:
                new = self._settle(new)
            mapped[k] = new
            k = id(new)
            rewritten_uses[k] = rewritten_uses.get(k, 0) + n
        return [mapped[id(o)] for o in outputs]

    def run_local(self, outputs, order):
        """(rewritten `outputs`, the nodes of their graph children first), for a pass
        whose rules look at a node and its children only (no node is left open, no rule
        asks how often a node is used): `lower`. A node whose children are unchanged and
        whose op has no rule stands for itself at the cost of a lookup, so the pass costs
        what its rules do, plus a fraction of a walk; and the order of the result is made
        on the way, without walking it again."""
        changed, placed, new_order = {}, set(), []
        for node in order:
            new = node
            kids = node.children
            if kids and changed and not changed.keys().isdisjoint(map(id, kids)):
                new = self.intern_as(node, [changed.get(id(c), c) for c in kids])
            if self._rules_for(new):
                new = self._settle(new)
            if new is not node:  # (with the nodes its rules built, not placed yet)
                changed[id(node)] = new
                if not placed.issuperset(map(id, new.children)):
                    new_order.extend(topo_sort([new], seen=placed))
                elif id(new) not in placed:  # (most: its children are placed, no walk)
                    placed.add(id(new))
                    new_order.append(new)
            elif id(node) not in placed:
                placed.add(id(node))
                new_order.append(node)
        results = [changed.get(id(o), o) for o in outputs]
        return results, _reachable(results, new_order) if changed else new_order

    def leaves_unchanged(self, outputs, order):
        """Whether rewriting the graph of `outputs` (`order`: its nodes, children first)
        would give back every node as it is, told at a fraction of a pass's cost: every
        node may be rewritten at `EXACT` only (so the polynomial pass has nothing to
        do), no two nodes have one structure (nothing to share), and no rule of this
        rewriter's phases fires on any node, nor is any node left open. A False may be
        cautious (a bail-out at the first node of a higher level); a True is exact.

        Graphs as users write them are mostly like this: ``ad.function`` on a forward
        graph would otherwise pay a whole pass, the polynomial pass and a second pass
        to find nothing."""
        if any(self.level_of(o) != EXACT for o in outputs):
            return False  # derivatives, or `simplify`: a pass has work to do
        uses, consumer = graph_uses(outputs, order)
        self.order = order
        keys, frozen = set(), self._frozen
        for node in order:
            if self.level_of(node) != EXACT:
                return False
            if not self._unique(node, keys, frozen) or self._fires(node, uses, consumer):
                return False
            # as in `run`: a node's uses are known to the rules of its consumers only
            self.uses[id(node)] = uses[id(node)]
        return True

    @staticmethod
    def _unique(node, keys, frozen):
        """Whether no node met before (`keys`: their structures) has `node`'s
        structure; adds it. (Variables are never shared: each is its own input.)"""
        children = node.children
        if children:
            key = structural_key(node, children, frozen)
            if key is None:
                key = node.key()
        elif isinstance(node, Variable):
            return True
        else:
            key = node.key()
        if key in keys:
            return False
        keys.add(key)
        return True

    def _fires(self, node, uses, consumer):
        """Whether a rule would rewrite `node` (its children unchanged), or a pass would
        leave it open for its consumer (`uses`, `consumer`: as `walk` gives them)."""
        tests = OPEN_TESTS.get(type(node)) if uses[id(node)] == 1 else None
        user = consumer.get(id(node)) if tests else None
        if user is not None:
            self._rank_all()
            if any(test(self, node, user) for test in tests):
                return True
        rules = self._rules_for(node)
        if not rules:
            return False
        self._rank_all()
        for fn in rules:
            replacement = fn(self, node)
            if replacement is not None and replacement is not node:
                return True
        return False

    def _rank_all(self):
        """Ranks for `leaves_unchanged`'s graph, as `run` gives them, made on the first
        rule call (most nodes have no rule to call)."""
        if not self.ranks and self.order:
            self.ranks.update(zip(map(id, self.order), range(len(self.order))))
            self._kept.extend(self.order)

def applicable_rules(phases, cls, level, kinds):
    """The rules of `phases` for op `cls` (base classes' included) at `level`, on
    operands of the classes `kinds`, in the order they were registered."""
    return [fn for phase in phases for base in cls.__mro__
            for rule_level, fn, operands in RULES[phase].get(base, ())
            if rule_level <= level
            and (operands is None or any(issubclass(k, operands) for k in kinds))]


def walk(outputs):
    """(order, uses, consumer) of the graph of `outputs`: its nodes children first (as
    `topo_sort`), {id(node): the operands and outputs it is (each occurrence counts)},
    and {id(node): a node using it} (its only one where it is used once)."""
    order, uses, consumer, seen = [], {}, {}, set()
    for root in outputs:
        uses[id(root)] = uses.get(id(root), 0) + 1
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.children))]
        while stack:
            node, children = stack[-1]
            for child in children:
                k = id(child)
                uses[k] = uses.get(k, 0) + 1
                consumer[k] = node
                if k not in seen:
                    seen.add(k)
                    stack.append((child, iter(child.children)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order, uses, consumer


def _reachable(outputs, order):
    """The nodes of `order` (children first) that `outputs` use, in that order: a
    rewrite leaves behind the nodes only what it replaced used."""
    live = set(map(id, outputs))
    kept = []
    for node in reversed(order):
        if id(node) in live:
            kept.append(node)
            live.update(map(id, node.children))
    kept.reverse()
    return kept


def graph_uses(outputs, order):
    """(uses, consumer) as `walk` gives them, for a graph whose nodes `order` holds; but
    `consumer` only for the nodes of the op classes `leave_open` registered (the only
    ones asked about)."""
    # counted in C (Counter over every operand edge): a Python loop over the edges
    # costs three times as much, on graphs of a hundred thousand nodes. (Handed on as a
    # plain dict, with 0 for a node nothing uses: the interpreter looks up a dict
    # subclass's items on a slower path.)
    counts = Counter(map(id, chain.from_iterable(map(_children, order))))
    counts.update(map(id, outputs))
    uses = dict.fromkeys(map(id, order), 0)
    uses.update(counts)
    consumer = {id(child): node for node in order for child in node.children
                if type(child) in OPEN_TESTS}
    return uses, consumer


_children = attrgetter("children")


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

