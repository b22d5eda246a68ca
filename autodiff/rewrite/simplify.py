"""`simplify` and the rewriting done before a graph runs (`rewrite_for_evaluation`).

Both run the same pipeline: one pass of the `canonical` and `algebra` rules (sharing
equal subgraphs on the way), the polynomial pass, and the `lower` pass. Each is linear
in the graph. The result is kept only when it is no larger and no slower than the graph
as given (`graph_cost`); otherwise the given nodes are returned as they are.

Before the passes, one cheap walk (`nothing_to_rewrite`) tells the graphs they would give
back unchanged (a forward graph with nothing to share, fold or drop, the common case
before a graph runs): those are returned at once.
"""
from ..core.context import next_serial
from ..core.derivation import records_derivation
from ..core.gcpause import gc_paused
from ..core.node import Node
from ..ops.einsum import Einsum
from ..core.traversal import topo_sort
from . import rules  # noqa: F401  (registers the rules)
from .engine import EXACT, FAST, PHASES, REAL, Rewriter, program_level, uniform_level, walk
from .expand import expand_polynomials

#: What running one node costs beyond its arithmetic, in element operations (a kernel
#: call and its bookkeeping take about as long as a thousand multiplications).
NODE_OVERHEAD = 1000


@records_derivation(all_results=True)
def simplify(nodes, fast_math=False):
    """Equivalent nodes, smaller: equal subgraphs shared, constants folded, and algebraic
    identities applied (``x*1``, ``x+0``, ``x*0``, ``--x``, like terms collected, products
    of powers, nested einsums fused, polynomials in normal form).

    Takes a node or a list of nodes and returns the same structure, with unchanged shapes
    and dtypes. The identities are those of the real numbers: they hold for every finite
    input and never widen where an expression is defined, but they may regroup sums and
    products, so results can differ from the unsimplified graph's in the last bits
    (``x*0`` becomes 0 only where x cannot be inf or NaN). ``fast_math=True`` also applies
    identities that assume every value is finite and nonzero (``x/x -> 1``, ``x*0 -> 0``
    for any x, powers merged across signs), as a compiler's fast-math does. The same graph
    always simplifies to the same graph and the same bits. The result never has more
    nodes, nor more estimated work (`graph_cost`), than `nodes` had: when rewriting would
    give that, `nodes` come back unchanged. It costs a few times what building the graph
    did, per node.
    """
    return _rewrite(nodes, uniform_level(FAST if fast_math else REAL))[0]


def rewrite_for_evaluation(nodes, fast_math=False, order=None):
    """The rewriting `ad.function` and `ad.evaluate` do before running `nodes`: what the
    user wrote is computed exactly as written (only rewrites that change no bit: equal
    subgraphs shared, constants folded, ``x*1``, ``--x``), and derivative parts are
    simplified as `simplify` does. With `fast_math`, `simplify(nodes, fast_math=True)`.
    As with `simplify`, the result is never larger nor slower than `nodes`. A graph
    with nothing to rewrite comes back as the same nodes. `order`: the graph's nodes,
    children first (`topo_sort`), when the caller has them."""
    return rewrite_with_order(nodes, fast_math, order)[0]


def rewrite_with_order(nodes, fast_math=False, order=None):
    """(`rewrite_for_evaluation` of `nodes`, the nodes of the rewritten graph children
    first): the passes walk that graph anyway, and a caller that plans it need not walk
    it again. The order is `topo_sort`'s where nothing was rewritten, and otherwise
    keeps the given graph's order for the nodes that stay."""
    return _rewrite(nodes, program_level(fast_math), order)


def _rewrite(nodes, level_of, order=None):
    """(rewritten `nodes`, their graph's topological order)."""
    start = next_serial()
    single = isinstance(nodes, Node)
    outputs = [nodes] if single else list(nodes)
    with gc_paused():
        if order is None:
            order = topo_sort(outputs)
        if nothing_to_rewrite(outputs, level_of, order):
            return (nodes if single else outputs), order
        lowered, order = run_passes(outputs, level_of, order)
    for before, after in zip(outputs, lowered):
        if after.serial >= start:
            keep_labels(before, after)
    return (lowered[0] if single else lowered), order


def run_passes(outputs, level_of, order=None):
    """`outputs` (a list) through the passes: rules and sharing, polynomials, lowering;
    or `outputs` themselves when the result would be larger or slower. Returns (those
    nodes, their graph children first). `order`: the graph of `outputs`, children first,
    when the caller has it."""
    rewriter = Rewriter(["canonical", "algebra"], level_of)
    rewritten = rewriter.run(outputs, order)
    given = graph_cost(outputs, rewriter.order)
    simplified, simplified_order = expand_polynomials(rewritten, rewriter, given[0])
    if simplified_order is None:
        simplified_order = topo_sort(simplified)
    lowered, lowered_order = Rewriter(["lower"], level_of, after=rewriter).run_local(
        simplified, simplified_order)
    if no_worse(graph_cost(lowered, lowered_order), given):
        return lowered, lowered_order
    return outputs, rewriter.order


def nothing_to_rewrite(outputs, level_of, order=None):
    """Whether the passes of `_rewrite` would give `outputs` back as they are (see
    `Rewriter.leaves_unchanged`): checked first, since a graph a user wrote, rewritten
    only where bits cannot change, mostly is (then the passes would cost several times
    what building it did, to find nothing)."""
    if any(level_of(o) != EXACT for o in outputs):
        return False  # derivatives: the passes always have work
    if order is None:
        order = topo_sort(outputs)
    return Rewriter(PHASES, level_of).leaves_unchanged(outputs, order)


def keep_labels(before, after):
    """Give `after`, a node built to replace the output `before`, what `before` says it
    is: the derivative it belongs to and the gradient it is (pictures and reprs show
    them). A node that existed before the rewrite (a forward node a derivative reduced
    to) is left as it is: it is also part of another graph."""
    if after.derivative_of is None:
        after.derivative_of = before.derivative_of
    if before.gradient_of and not after.gradient_of:
        after.gradient_of = before.gradient_of


def graph_cost(outputs, order=None):
    """(nodes, work) of the graph of `outputs`: its distinct nodes, and an estimate of
    the time a run takes, in element operations: `NODE_OVERHEAD` per computed node plus
    its elements, or its first operand's when that is larger (a reduction reads more
    than it writes; other operands broadcast to the output), and for an einsum the size
    of its whole index space. `order`: the graph's nodes, when the caller has them."""
    if order is None:
        order = walk(outputs)[0]
    work, computed, sizes = 0, 0, {}
    for node in order:
        children = node.children
        if not children:
            continue
        computed += 1
        if isinstance(node, Einsum):
            elements = 1
            for size in node.sizes.values():
                elements *= size
        else:
            shape, first = node.shape, children[0].shape
            elements = sizes.get(shape)
            if elements is None:
                elements = _size(shape, sizes)
            if first != shape:
                elements = max(elements, _size(first, sizes))
        work += elements
    return len(order), work + NODE_OVERHEAD * computed


def _size(shape, sizes):
    """The number of elements of `shape` (remembered in `sizes`)."""
    n = sizes.get(shape)
    if n is None:
        n = 1
        for d in shape:
            n *= d
        sizes[shape] = n
    return n


def no_worse(new, old):
    """Whether a graph of cost `new` is no larger and no slower than one of cost `old`."""
    return new[0] <= old[0] and new[1] <= old[1]
