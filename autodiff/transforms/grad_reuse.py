"""`grad` of a graph rebuilt the same way: the derivative graph copied, not derived again.

A training step written in the eager style builds its forward graph anew and calls
``grad`` on it every step. The derivative graph then comes out the same each time, node
for node, except that it hangs off the new forward nodes. Running the rules again costs
about 15 microseconds per derivative node; copying the last derivative graph onto the new
forward nodes, with the key that finds it, about a quarter of that (a batch-1 char-rnn
step's `grad`: 4.9 ms derived, 1.2 ms copied).

What `grad` built is kept as a *recipe*: for each derivative node, in the order it was
built, its class, its attributes (parameters, shape, dtype, and what its constructor
worked out from them) and where its children and derivative mark come from (a forward
node by position in the forward graph's topological order, or an earlier derivative
node). It is keyed by everything the rules read:

* the forward graph's structure, as the plan cache sees it: each node's op, parameters,
  children (by position), leaf shapes and dtypes;
* what each rule reads beyond that (`Node.vjp_facts`: a constant exponent, whether
  constant labels are one-hot); an op that does not declare it (a user's op) makes
  the graph not reusable, and `grad` runs the rules;
* the positions of `wrt`, and their shapes and dtypes (for those not reached);
* whether the forward Constants the rules asked about hold only finite numbers (a
  product with an always-finite factor is built plain, else strong-zero: `strong_mul`).
  That is checked when the recipe is found, on those Constants alone, so a step
  whose constants are many large arrays (an input batch) pays nothing for it.

A recipe is made the second time a structure is differentiated, so a graph
differentiated once pays for its key alone. Only first-order gradients with the default
seed are kept: nested derivatives are rewritten before they run, and rarely rebuilt the
same way. A recipe holds no node, so it keeps no graph alive; at most `RECIPES` are
kept, least recently used first out.
"""
import collections
import operator

from ..core import context
from ..core.finite import always_finite
from ..core.node import Constant, Node, Variable, is_shared_scalar
from ..runtime.evaluation import note_known_graph, signature

#: How many recipes are kept (each a few hundred small tuples).
RECIPES = 16

_recipes = collections.OrderedDict()

#: Attributes a copy gets anew rather than from the recipe.
_OWN = ("children", "serial", "scope", "derivative_of", "gradient_of", "derived_by")


class Recipe:
    """How to build one derivative graph on a forward graph (see module docstring).
    Compared by identity: it also names that structure in the plan cache."""

    __slots__ = ("nodes", "shared", "results", "finite_constants")

    def __init__(self, nodes, shared, results, finite_constants):
        self.nodes = nodes  # (class, attributes, children, derivative mark) per node
        self.shared = shared  # shared Constants the derivative graph reads
        self.results = results  # (where, built here) per gradient
        # (position, all finite) of the forward Constants the rules asked about
        self.finite_constants = finite_constants

    def fits(self, order):
        """Whether the forward graph `order` (of this recipe's structure) has the same
        finite and non-finite Constants where the rules looked."""
        return all(always_finite(order[i], {}) == finite for i, finite in self.finite_constants)


def forward_key(order, wrt):
    """The key of `order` (the topological order of y's graph, y last) and `wrt`, or None
    when its derivative graph cannot be reused (a nested derivative, an op whose rule
    reads what it does not declare). The structure is the plan cache's `signature`."""
    if set(map(_DERIVATIVE_OF, order)) != {None}:  # (a node has no truth value)
        return None
    facts = []
    if not set(map(type, order)) <= _READS_STRUCTURE:  # else every fact is ()
        for i, node in enumerate(order):
            if type(node) not in _READS_STRUCTURE:
                fact = _facts(node)
                if fact is None:
                    return None
                if fact != ():  # (a class learnt to read structure alone has no entry)
                    facts.append((i, fact))
    unreached = tuple((w.shape, w.dtype.str) for w in wrt)  # the shape of their zeros
    return signature(order, order[-1:], wrt, False, True), tuple(facts), unreached


#: Node classes whose rules read the structure alone (`Node.vjp_facts` not overridden,
#: and ``()``), found as they are met, and leaves (no rule): the key then costs no call
#: per node.
_READS_STRUCTURE = {Variable, Constant}

_DERIVATIVE_OF = operator.attrgetter("derivative_of")


def _facts(node):
    """`node.vjp_facts()`, noting the classes whose facts are always ``()``."""
    if not node.children:
        return ()  # a leaf of another kind: its parameters are in the signature
    facts = node.vjp_facts()
    if facts == () and type(node).vjp_facts is Node.vjp_facts:
        _READS_STRUCTURE.add(type(node))
    return facts


def find(key, order):
    """The recipe kept under `key` that fits the forward graph `order`, or None."""
    recipe = _recipes.get(key)
    if recipe is None or not recipe.fits(order):
        return None
    _recipes.move_to_end(key)
    return recipe


def remember(key, order, results, start, finite):
    """Note that the structure of `key` was differentiated, into `results` ((gradient,
    built here) pairs, built by `grad` from serial number `start` on, over the forward
    graph `order`; `finite`: the answers of `always_finite` the rules asked for, by
    node id). The recipe is made the second time: a graph differentiated once (most
    graphs outside a training loop) pays for its key alone. Nothing is kept when the
    derivative graph holds what a copy could not reproduce (a node of another graph, a
    node held in an attribute)."""
    if key not in _recipes:
        _recipes[key] = None  # seen once
    else:
        recipe = _recipe(order, results, start, finite)
        if recipe is None:
            return
        _recipes[key] = recipe
        _recipes.move_to_end(key)
    if len(_recipes) > RECIPES:
        _recipes.popitem(last=False)


def _recipe(order, results, start, finite):
    index = {id(node): i for i, node in enumerate(order)}
    shared, new = [], []
    stack, seen = [g for g, _ in results], set(index)
    while stack:  # every node of the derivative graph that is not a forward node
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.serial >= start:
            new.append(node)
            stack.extend(node.children)
        elif is_shared_scalar(node):
            shared.append(node)
        else:
            return None
    for node in shared:
        index[id(node)] = len(index)
    new.sort(key=lambda n: n.serial)  # the order they were built in: children first
    nodes = []
    for node in new:
        attributes = {k: v for k, v in node.__dict__.items() if k not in _OWN}
        if any(_holds_node(v) for v in attributes.values()):
            return None
        mark = node.derivative_of
        if mark is not None and id(mark) not in index:
            return None
        nodes.append((type(node), attributes, tuple([index[id(c)] for c in node.children]),
                      -1 if mark is None else index[id(mark)]))
        index[id(node)] = len(index)
    finite_constants = tuple((i, finite[id(node)]) for i, node in enumerate(order)
                             if isinstance(node, Constant) and id(node) in finite)
    return Recipe(tuple(nodes), tuple(shared),
                  tuple((index[id(g)], here) for g, here in results), finite_constants)


def _holds_node(value):
    """Whether an attribute is a node or holds one directly (as parameters would)."""
    if isinstance(value, (tuple, list)):
        items = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return isinstance(value, Node)
    for item in items:
        if isinstance(item, Node):
            return True
    return False


def build(recipe, order):
    """The derivative graph of `recipe` on the forward graph `order`: a list of (gradient
    node, whether it is a node built here) in the order of `wrt`.

    The whole graph's order is known here, so it is handed to `evaluate` with the recipe
    as its structure: evaluating y with its gradients then needs no walk and no signature.
    """
    env = list(order)
    env.extend(recipe.shared)
    scope = context.current_scope()
    serial = context.next_serial
    blank = object.__new__
    get, append = env.__getitem__, env.append
    for cls, attributes, children, mark in recipe.nodes:
        node = blank(cls)
        node.__dict__ = dict(attributes, children=tuple(map(get, children)), serial=serial(),
                             scope=scope, derivative_of=None if mark < 0 else env[mark])
        append(node)
    results = [(env[i], built) for i, built in recipe.results]
    required = {id(env[i]): i for i, built in recipe.results if built}
    required[id(order[-1])] = len(order) - 1  # y
    note_known_graph(env, recipe, required)
    return results


def clear():
    """Forget every recipe."""
    _recipes.clear()

