"""Evaluation order: a topological order that keeps few large values alive at once.

An evaluation holds every computed value from the step that makes it to the step that
last reads it, so the order of the steps sets the peak memory. Several orders are built
and the one with the lowest peak, simulated from node shapes (`peak_bytes`), is kept:

* depth-first: children before parents, as `topo_sort` visits them. Cheap and good for
  chains, but a backward pass that reads forward values, or a gradient summed over time
  steps, can leave one value per layer or time step alive at once.
* memory-greedy: built from the outputs backwards (as XLA's list scheduler does). Each
  time, of the nodes whose readers are all placed, the one that ends the most bytes of
  live range net is placed: it sits just before its readers, so it runs as late as it
  can, while its inputs start living only then.
* each of those with running totals and outputs hoisted (`_hoist`): computed as soon as
  their inputs exist, so a gradient summed over time advances with the backward pass and
  a layer's weight gradient frees that layer's activations at once.

Sums are planned as chains of running totals added in place (`plan_steps`): a gradient
summed over a thousand time steps keeps one total alive instead of all its terms.
A one-off evaluation skips the search and takes the hoisted depth-first order.
"""
import heapq

import numpy as np

from ..ops.arithmetic import Add


#: Sums of at least this many terms are reductions whose terms arrive over the run (a
#: gradient summed over time steps): each term is added as soon as it can be computed.
#: Shorter sums (a layer's ``x @ W + h @ U + b``) run where the order puts them.
LONG_SUM = 4


class Step:
    """One scheduled computation: `kernel` on the values of `args` (Step indices), for
    `node` (a leaf when `args` is empty). The running totals of a split sum are Steps of
    the sum's node with kernel ``np.add``."""

    __slots__ = ("node", "args", "kernel", "size", "accumulates")

    def __init__(self, node, args, kernel=None, accumulates=False):
        self.node, self.args, self.accumulates = node, args, accumulates
        if kernel is None and args:
            kernel = node.kernel()
        self.kernel = kernel
        self.size = value_bytes(node)


def value_bytes(node):
    """Bytes a value of `node` adds to memory: its size from shape and dtype, or 0 for a
    view into a stored value (a slice of a Variable's value)."""
    if node.returns_view and not node.children[0].children:
        return 0
    size = node.dtype.itemsize
    for d in node.shape:
        size *= d
    return size


def plan_steps(order, outputs):
    """Steps for the nodes in `order` (a topological order of `outputs`' graph), leaves
    included as Steps with no args. Returns (steps, Step index of each node id).

    Sums become chains of running totals (`_sum_chain`), added in the order written.
    Sums built by a derivative transform (`_reorderable`) go further: nested sums read
    only by such a sum are merged into it (``(a + b) + c`` is one sum of three terms) and
    the terms are added in the order their inputs become available: for a gradient summed
    over time steps this order is time. (Their rounding may differ from a left-to-right
    sum in the last bits; sums the user wrote are computed as written.)
    """
    merged = _sums_merged_into_their_reader(order, outputs)
    steps, index = [], {}
    for node in order:
        if id(node) in merged:
            continue
        if type(node) is Add:
            args = [index[id(t)] for t in _terms(node, merged)]
            if _reorderable(node):
                args.sort(key=lambda a: (max(steps[a].args, default=-1), a))
            _sum_chain(node, args, steps)
        else:
            steps.append(Step(node, tuple(index[id(c)] for c in node.children)))
        index[id(node)] = len(steps) - 1
    return steps, index


def _sum_chain(node, args, steps):
    """Append Steps adding `args` (Step indices) left to right for the sum `node`: a
    fresh total of the first two terms, then each term added into it (`add_into_total`)."""
    if len(args) <= 2:
        steps.append(Step(node, tuple(args)))
        return
    accumulates = len(args) >= LONG_SUM
    steps.append(Step(node, tuple(args[:2]), np.add, accumulates))
    for a in args[2:]:
        steps.append(Step(node, (len(steps) - 1, a), add_into_total, accumulates))


def _reorderable(total):
    """Whether the terms of a sum may be added in another order and grouping: only sums
    that a derivative transform built (what the user wrote is computed as written), and
    only when the sum and its operands share one dtype (so every partial sum has it)."""
    return total.derivative_of is not None and all(c.dtype == total.dtype
                                                   for c in total.children)


def add_into_total(total, term):
    """``total + term``, written into `total` when it can hold the result: a running total
    is a fresh array that only the next step reads, so summing a thousand terms allocates
    once rather than a thousand times."""
    if (type(total) is np.ndarray and total.base is None and np.shape(term) == total.shape
            and np.result_type(total, term) == total.dtype):
        return np.add(total, term, out=total)
    return np.add(total, term)


def _sums_merged_into_their_reader(order, outputs):
    """Ids of the sums whose only reader is another sum of the same dtype, both
    reorderable (and which are not outputs)."""
    reader = {}  # id(sum) -> its one reader, or None once it has two
    for node in order:
        for c in node.children:
            if type(c) is Add:
                seen = reader.get(id(c), node)
                reader[id(c)] = node if seen is node else None
    outputs = {id(o) for o in outputs}
    merged = set()
    for node in order:
        r = reader.get(id(node))
        if (type(r) is Add and id(node) not in outputs and r.dtype == node.dtype
                and _reorderable(node) and _reorderable(r)):
            merged.add(id(node))
    return merged


def _terms(total, merged):
    """The operands of sum `total`, with merged sums replaced by their operands."""
    terms, stack = [], list(reversed(total.children))
    while stack:
        node = stack.pop()
        if id(node) in merged:
            stack.extend(reversed(node.children))
        else:
            terms.append(node)
    return terms


def best_order(steps, outputs, search=True):
    """A permutation of range(len(steps)), leaves first; `outputs` are Step indices kept to
    the end. With `search`, the candidate with the lowest simulated peak (see the module
    docstring); without it (a graph evaluated once), the depth-first order, with running
    totals and outputs computed as soon as they can be (`_hoist`)."""
    leaves = [i for i, s in enumerate(steps) if not s.args]
    depth_first = leaves + [i for i, s in enumerate(steps) if s.args]
    if len(steps) - len(leaves) < 3:
        return depth_first
    if not search:
        return _hoist(steps, depth_first, outputs)
    greedy = leaves + _memory_greedy(steps, outputs)
    candidates = [depth_first, greedy, _hoist(steps, depth_first, outputs),
                  _hoist(steps, greedy, outputs)]
    return min(candidates, key=lambda order: peak_bytes(steps, order, outputs))


def peak_bytes(steps, order, outputs):
    """Largest total size of computed values alive at once when running `order`."""
    last = {}
    for pos, i in enumerate(order):
        for a in steps[i].args:
            last[a] = pos
    end = len(order)
    for o in outputs:
        last[o] = end
    frees = [0] * (end + 1)
    for i, pos in last.items():
        if steps[i].args:
            frees[pos] += steps[i].size
    live = peak = 0
    for pos, i in enumerate(order):
        step = steps[i]
        if step.args:
            if step.kernel is add_into_total:  # the total it extends becomes this value
                grown = steps[step.args[0]].size
                live -= grown
                frees[pos] -= grown
            live += step.size
            peak = max(peak, live)
        live -= frees[pos]
    return peak


def _memory_greedy(steps, outputs):
    """Non-leaf Step indices in an order built from the end (see the module docstring)."""
    n = len(steps)
    is_step = [bool(s.args) for s in steps]
    readers = [[] for _ in range(n)]
    for i, s in enumerate(steps):
        for a in set(s.args):
            if is_step[a]:
                readers[a].append(i)
    unplaced_readers = [len(r) for r in readers]
    live = [False] * n  # live in the reversed run: some reader placed, or an output
    for o in outputs:
        live[o] = True
    placed = [False] * n

    def cost(i):  # bytes that start living when step i is placed
        return sum(steps[a].size for a in set(steps[i].args) if is_step[a] and not live[a])

    def gain(i):
        # Bytes of live range ended by placing i, plus what its single-reader inputs will
        # end when they are placed right after it: a term of a running total counts with
        # the total, so sums over time steps advance together, step by step.
        ahead = 0
        for a in set(steps[i].args):
            if is_step[a] and not live[a] and len(readers[a]) == 1:
                ahead += max(0, steps[a].size - cost(a))
        return steps[i].size - cost(i) + ahead

    # Gains only grow as the run goes on (more inputs are live, so placing a step costs
    # less), so a heap entry can only be stale by being too low: on popping one whose gain
    # has grown, push it again. A step's gain depends on its inputs' liveness and, through
    # the look-ahead, on its inputs' inputs: both kinds of readers are re-pushed below.
    heap = []

    def push(i):
        # ties go to the later step of the depth-first order, which keeps its shape
        heapq.heappush(heap, (-gain(i), -i, i))

    def is_candidate(i):
        return not placed[i] and unplaced_readers[i] == 0

    for i in range(n):
        if is_step[i] and not readers[i]:
            push(i)
    reversed_order = []
    while heap:
        neg_gain, _, i = heapq.heappop(heap)
        if placed[i]:
            continue
        if -neg_gain != gain(i):  # stale (see above)
            push(i)
            continue
        placed[i] = True
        reversed_order.append(i)
        for a in set(steps[i].args):
            if not is_step[a]:
                continue
            if not live[a]:
                live[a] = True
                for r in readers[a]:  # candidates sharing `a` now pay less for it
                    if is_candidate(r):
                        push(r)
                    for q in readers[r]:  # and so do those looking ahead to r
                        if is_candidate(q):
                            push(q)
            unplaced_readers[a] -= 1
            if unplaced_readers[a] == 0:
                push(a)
    reversed_order.reverse()
    return reversed_order


def _hoist(steps, order, outputs):
    """`order` with running totals of long sums, and outputs, moved up to the first point
    where they can be computed from values already made plus terms read by them alone
    (computed with them). An output is kept to the end anyway, and computing it early
    frees its inputs early: a layer's weight gradient is made as soon as the layer's
    backward step is, not after the whole backward pass. Linear: each step counts the
    inputs it still waits for."""
    n = len(steps)
    args = [tuple(set(s.args)) for s in steps]
    readers = [[] for _ in range(n)]
    for i in range(n):
        for a in args[i]:
            readers[a].append(i)
    eager = [s.accumulates for s in steps]
    for o in outputs:
        eager[o] = bool(steps[o].args)
    # the eager step that a term feeds alone (-1: none), e.g. an outer product's total
    feeds = [r[0] if len(r) == 1 and eager[r[0]] and not eager[i] else -1
             for i, r in enumerate(readers)]
    done = [not s.args for s in steps]
    ready = list(done)  # made, or a term whose inputs are all made (made with its reader)
    waiting = [sum(1 for a in args[i] if not ready[a]) for i in range(n)]
    new_order = [i for i in order if done[i]]  # the leaves
    became_ready = []

    def emit(i):
        new_order.append(i)
        done[i] = True
        if not ready[i]:
            ready[i] = True
            became_ready.append(i)

    for i in order:
        if done[i]:
            continue
        emit(i)
        while became_ready:
            for r in readers[became_ready.pop()]:
                waiting[r] -= 1
                if waiting[r]:
                    continue
                if eager[r] and not done[r]:
                    for a in args[r]:  # its ready terms, made right before it
                        if not done[a]:
                            emit(a)
                    emit(r)
                elif feeds[r] >= 0 and not ready[r]:
                    ready[r] = True
                    became_ready.append(r)
    return new_order


def assign_slots(steps, order, outputs):
    """Buffer slots for running `order`: a value's slot is reused once its last reader has
    run, so the buffer is as long as the most values alive at once, not the graph.

    Returns (slot of each Step, slots freed after each Step as a dict, number of slots).
    Outputs keep their slots to the end.
    """
    last = {}
    for pos, i in enumerate(order):
        for a in steps[i].args:
            last[a] = pos
    for o in outputs:
        last.pop(o, None)
    released_at = {}
    for i, pos in last.items():
        released_at.setdefault(pos, []).append(i)
    slot, frees, free_slots, n_slots = [None] * len(steps), {}, [], 0
    for pos, i in enumerate(order):
        if free_slots:
            slot[i] = free_slots.pop()
        else:
            slot[i], n_slots = n_slots, n_slots + 1
        done = [slot[a] for a in released_at.get(pos, ())]
        if done:
            frees[i] = tuple(done)
            free_slots.extend(done)
    return slot, frees, n_slots
