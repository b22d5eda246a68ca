"""`evaluate`: one-off evaluation of nodes, with plans cached by graph structure.

A graph rebuilt every step (the eager style) is structurally the same graph each time:
its plan is found by the graph's *signature* (ops, parameters, how they connect, leaf
shapes and dtypes, derivative marks; and constant values when the graph is rewritten)
in a small least-recently-used cache, and run on the new graph's own leaves and kernels.
The cache holds at most `PLAN_CACHE_SIZE` plans, and plans whose graphs hold at most
`PLAN_CACHE_NODES` nodes together, so a long-running loop never grows it, and no value
is ever stored on a node, so results always reflect the current values.
"""
import collections
import hashlib

from ..core.node import Node, Variable, Constant
from ..core.params import frozen_params
from ..core.traversal import topo_sort
from .backends import backend_function_class
from .function import Function

#: Plans kept for graphs evaluated with `evaluate` (each keeps its graph alive).
PLAN_CACHE_SIZE = 16
#: ... and the most nodes the graphs they keep alive may have together (the newest plan
#: is kept whatever its size): a plan made on a rewritten higher-order derivative keeps
#: the derivative graph it was given, tens of MB at order 12, and sixteen such would
#: hold a gigabyte or more.
PLAN_CACHE_NODES = 250_000

_plans = collections.OrderedDict()
_plan_nodes = {}  # key of `_plans` -> the number of nodes of the graph its plan was made on
#: The same, found by the identity of the output and fed nodes: (outputs, plan, the
#: topological order to rebind the plan to, or None for the graph it was made on). The
#: entry holds the outputs, so their ids cannot be reused while it exists.
_by_nodes = collections.OrderedDict()
#: Entries of `_by_nodes`: the graphs evaluated last, each kept alive by its entry. Few,
#: because a graph rebuilt every step is never evaluated again: sixteen steps' graphs
#: (their input batches too) would stay in memory, and the garbage collector would walk
#: them all, a tenth of a rebuilt char-rnn step. Two serve a REPL evaluating the same
#: nodes again, and a loop alternating two graphs.
RECENT_GRAPHS = 2


#: Graphs whose order and structure are known without walking them, most recent last:
#: (order, structure, {id: position} of the required outputs). Evaluating outputs that
#: include all the required ones evaluates exactly the nodes of `order`, so its plan is
#: found by `structure` and the outputs' positions. `grad` notes each derivative graph it
#: copies from a recipe (transforms/grad_reuse.py). Holding two keeps at most two graphs
#: alive, and the deque holds them: no node refers back, so no reference cycle.
_known = collections.deque(maxlen=2)


def note_known_graph(order, structure, required):
    """Note the graph of `order` (children first, nothing in it unused when all the
    outputs `required` names are evaluated: {id(node): its position in `order`}) as
    having the structure named by `structure`, an object compared by identity that
    stands for everything a plan depends on but the positions of outputs and inputs."""
    _known.append((order, structure, required))


def _known_order(outputs, feed, simplify, single):
    """The order and plan key of a noted graph that `outputs` evaluate exactly; None when
    there is none (the graph is then walked and its signature taken), or when the plan
    would be rewritten (its key would need the constants' values)."""
    if simplify is True or not _known:
        return None
    ids = set(map(id, outputs))
    for order, structure, required in reversed(_known):
        if required.keys() <= ids:
            places = tuple([_position(order, required, o) for o in outputs])
            if None not in places:
                return order, (structure, places,
                               tuple([_position(order, required, v) for v in feed]),
                               single, simplify)
    return None


def _position(order, known, node):
    """The position of `node` in `order` (`known`: some positions by id), or None."""
    i = known.get(id(node))
    if i is None:
        try:
            i = order.index(node)  # (nodes compare by identity)
        except ValueError:
            return None
    return i


def evaluate(nodes, feed=None, simplify="auto", backend="numpy"):
    """Values of `nodes` (a node or a list of nodes) for the current Variable values.

    `feed` maps Variables to values used for this call only. Returns an array for a
    single node, else a list of arrays. Evaluating a graph of the same structure again
    (the same graph, or one rebuilt the same way) reuses its plan.

    `simplify`: True or False, or "auto" (the default): rewrite (see `ad.function`) only
    graphs holding derivatives of derivatives, where graphs grow fast and rewriting pays;
    a first-order graph built anew each step runs as built, with no rewriting cost.
    `backend`: "numpy" (default) or another backend of `ad.function` ("jax" compiles one
    XLA program for the graph and keeps it for the next call on the same nodes; "dask"
    takes dask arrays in `feed` and keeps their chunks). Use ``ad.function`` for options.
    """
    outputs = [nodes] if isinstance(nodes, Node) else list(nodes)
    if not outputs:
        return []
    for i, out in enumerate(outputs):
        if not isinstance(out, Node):
            raise TypeError(f"evaluate: outputs[{i}] is a {type(out).__name__}, not a node")
    feed = dict(feed or {})
    for var in feed:
        if not isinstance(var, Variable):
            raise TypeError(f"evaluate: feed keys must be Variables; got {var!r}")
    if backend != "numpy":
        return _evaluate_compiled(nodes, outputs, feed, backend)
    single = isinstance(nodes, Node)
    # Nodes never change, so the very same nodes evaluated again (a derivative evaluated
    # in a loop, `node()` in a REPL) need neither the walk nor the signature.
    same_nodes = (tuple(map(id, outputs)), tuple(map(id, feed)), simplify, single)
    known = _by_nodes.get(same_nodes)
    if known is not None:
        _by_nodes.move_to_end(same_nodes)
        _, plan, order = known
        values = plan(*feed.values()) if order is None \
            else plan.rebind(order, list(feed.values()))
        return values[0] if single else values
    known = _known_order(outputs, feed, simplify, single)
    if known is not None:
        order, key = known
    else:
        order = topo_sort(outputs)
        key = (backend, signature(order, outputs, feed, simplify, single))
    plan = _plans.get(key)
    if plan is None:
        plan = Function.with_order(outputs, order, inputs=list(feed), simplify=simplify,
                                   search_schedule=False)
        _remember_plan(key, plan, len(order))
        _remember(_by_nodes, same_nodes, (outputs, plan, None), RECENT_GRAPHS)
        values = plan(*feed.values())
    else:
        _plans.move_to_end(key)
        _remember(_by_nodes, same_nodes, (outputs, plan, order), RECENT_GRAPHS)
        values = plan.rebind(order, list(feed.values()))
    return values[0] if single else values


def _evaluate_compiled(nodes, outputs, feed, backend):
    """`evaluate` on another backend: the function compiled for these very nodes is kept
    (the plan holds them, so their ids stay theirs); a graph built again compiles again."""
    key = (backend, tuple(map(id, outputs)), tuple(map(id, feed)))
    plan = _plans.get(key)
    if plan is None:
        plan = backend_function_class(backend)(outputs, list(feed))
        _remember_plan(key, plan, len(topo_sort(outputs)))
    else:
        _plans.move_to_end(key)
    values = plan(*feed.values())
    return values[0] if isinstance(nodes, Node) else values


def _remember(cache, key, entry, size=PLAN_CACHE_SIZE):
    cache[key] = entry
    if len(cache) > size:
        cache.popitem(last=False)


def _remember_plan(key, plan, nodes):
    """Keep `plan` (made on a graph of `nodes` nodes) under `key`, dropping the least
    recently used plans beyond `PLAN_CACHE_SIZE` plans or `PLAN_CACHE_NODES` nodes."""
    _plans[key] = plan
    _plan_nodes[key] = nodes
    while len(_plans) > 1 and (len(_plans) > PLAN_CACHE_SIZE
                               or sum(_plan_nodes.values()) > PLAN_CACHE_NODES):
        oldest, _ = _plans.popitem(last=False)
        _plan_nodes.pop(oldest, None)


_bodies = collections.OrderedDict()


def compiled_body(outputs, inputs):
    """A `Function` computing `outputs` from `inputs` (Variables: every Variable they read),
    shared by graphs of the same structure: the body of a loop or of a checkpointed block,
    built again whenever its graph is (a rebuilt step, a thousand checkpointed cells)
    without planning again. Called with values for `inputs`, so nothing is read from the
    graph it was planned on but its constants, which are part of the structure."""
    single = isinstance(outputs, Node)
    listed = [outputs] if single else list(outputs)
    order = topo_sort(listed)
    given = set(map(id, inputs))
    if any(isinstance(n, Variable) and id(n) not in given for n in order):
        return Function(outputs, inputs=inputs)  # it reads other Variables: not shareable
    key = signature(order, listed, inputs, True, single)
    function = _bodies.get(key)
    if function is None:
        function = _bodies[key] = Function.with_order(outputs, order, inputs=inputs)
        if len(_bodies) > PLAN_CACHE_SIZE * 4:
            _bodies.popitem(last=False)
    else:
        _bodies.move_to_end(key)
    return function


def signature(order, outputs, feed, simplify, single):
    """A hashable description of everything a plan depends on (see module docstring)."""
    position = {}
    parts = []
    constants = []
    higher_order = False
    for i, node in enumerate(order):
        position[id(node)] = i
        origin = node.derivative_of
        if origin is None:
            mark = 0
        elif origin.derivative_of is None:
            mark = 1
        else:
            mark = 2
            higher_order = True
        children = node.children
        if children:
            parts.append((type(node), frozen_params(node),
                          tuple([position[id(c)] for c in children]), mark))
        elif isinstance(node, Variable):
            parts.append((Variable, node.shape, node.dtype.str, mark))
        elif isinstance(node, Constant):
            parts.append((Constant, node.shape, node.dtype.str, mark))
            constants.append(node)
        else:  # a leaf of another kind: its parameters say what it is
            parts.append((type(node), frozen_params(node), (), mark))
    rewritten = simplify is True or (simplify == "auto" and higher_order)
    values = tuple(_value_key(c) for c in constants) if rewritten else ()
    return (tuple(parts), values, tuple(position[id(o)] for o in outputs),
            tuple(position.get(id(v)) for v in feed), single, simplify)


def _value_key(constant):
    v = constant.value
    data = v.tobytes()
    return data if len(data) <= 512 else hashlib.blake2b(data, digest_size=16).digest()


def clear_plan_cache():
    """Forget every cached plan (they are rebuilt on demand)."""
    _known.clear()
    _plans.clear()
    _plan_nodes.clear()
    _by_nodes.clear()
    _bodies.clear()
