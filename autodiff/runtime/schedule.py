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
from .layouts import TransposedCopy, matrices_read_transposed, product_with_transposed
from .shared_softmax import READERS as LOG_SOFTMAX_READERS
from .shared_softmax import LogSoftmaxRows, paired_rows, reader_kernel


#: Sums of at least this many terms are reductions whose terms arrive over the run (a
#: gradient summed over time steps): each term is added as soon as it can be computed.
#: Shorter sums (a layer's ``x @ W + h @ U + b``) run where the order puts them.
LONG_SUM = 4


class Step:
    """One scheduled computation: `kernel` on the values of `args` (Step indices), for
    `node` (a leaf when `args` is empty). The running totals of a split sum are Steps of
    the sum's node with kernel ``np.add``."""

    __slots__ = ("node", "args", "kernel", "size", "accumulates", "own_kernel")

    def __init__(self, node, args, kernel=None, accumulates=False):
        self.node, self.args, self.accumulates = node, args, accumulates
        self.own_kernel = kernel is None  # the node's own (a graph rebuilt gives it anew)
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

    Derivative steps may read a value the planner adds: a transposed copy of a matrix
    that several products read transposed (`layouts.py`), or the log-softmax a softmax
    cross-entropy shares with its gradient (`shared_softmax.py`).
    """
    merged = _sums_merged_into_their_reader(order, outputs)
    read_transposed = matrices_read_transposed(order)
    copies = {}  # id(matrix) -> the Step of its transposed copy (see layouts.py)
    paired = paired_rows(order)
    log_softmax = {}  # (id(labels), id(logits)) -> the Step of it (see shared_softmax.py)
    steps, index = [], {}
    for node in order:
        if id(node) in merged:
            continue
        if type(node) is Add:
            args = [index[id(t)] for t in _terms(node, merged)]
            if _reorderable(node):
                args.sort(key=lambda a: (max(steps[a].args, default=-1), a))
            _sum_chain(node, args, steps)
        elif read_transposed and product_with_transposed(node) \
                and id(node.children[1]) in read_transposed:
            _product_on_copy(node, index, copies, steps)
        elif paired and type(node) in LOG_SOFTMAX_READERS \
                and (id(node.children[0]), id(node.children[1])) in paired:
            _on_shared_log_softmax(node, index, log_softmax, steps)
        else:
            steps.append(Step(node, tuple([index[id(c)] for c in node.children])))
        index[id(node)] = len(steps) - 1
    return steps, index


def _product_on_copy(node, index, copies, steps):
    """Append the Step of ``a @ b.T`` (`node`) as ``a @ c``, c the row-major copy of
    ``b.T``: made by a Step placed before its first reader, shared by the others."""
    a, b = node.children
    copy = copies.get(id(b))
    if copy is None:
        made = TransposedCopy(b)  # (not in the graph: `rebind` must not look for it there)
        steps.append(Step(made, (index[id(b)],), made.forward))
        copy = copies[id(b)] = len(steps) - 1
    steps.append(Step(node, (index[id(a)], copy), np.dot))


def _on_shared_log_softmax(node, index, made, steps):
    """Append the Step of a softmax cross-entropy or its gradient (`node`) reading the
    log-softmax of its logits: made by a Step placed before its first reader."""
    labels, logits = node.children[:2]
    key = (id(labels), id(logits))
    shared = made.get(key)
    if shared is None:
        rows = LogSoftmaxRows(logits)  # (not in the graph: `rebind` must not look for it)
        steps.append(Step(rows, (index[id(logits)],), rows.forward))
        shared = made[key] = len(steps) - 1
    args = (index[id(labels)], shared) + tuple(index[id(c)] for c in node.children[2:])
    steps.append(Step(node, args, reader_kernel(node)))


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
    graph = _Graph(steps)
    if not search:
        return _hoist(graph, depth_first, outputs)
    greedy = leaves + _memory_greedy(graph, outputs)
    candidates = [depth_first, greedy, _hoist(graph, depth_first, outputs),
                  _hoist(graph, greedy, outputs)]
    peaks = _PeakSimulator(graph, outputs)
    best, best_peak = None, None
    for order in candidates:
        if best is not None and order == best:
            continue  # (often two candidates are one order: a chain has only one)
        peak = peaks.peak(order)
        if best is None or peak < best_peak:
            best, best_peak = order, peak
    return best


class _Graph:
    """What the orderings read of the steps, as plain lists indexed by Step: sizes, which
    steps are computed (not leaves), each step's distinct arguments (`args`; `inputs`: the
    computed ones) and readers."""

    def __init__(self, steps):
        self.steps = steps
        self.n = n = len(steps)
        self.size = [s.size for s in steps]
        self.is_step = is_step = [bool(s.args) for s in steps]
        self.accumulates = [s.accumulates for s in steps]
        self.extends = [s.kernel is add_into_total for s in steps]
        # distinct arguments, in the order of a set of them (the order `_hoist` makes
        # terms in, kept from its first version so that schedules stay as they were)
        self.args = [tuple(set(s.args)) if len(s.args) > 1 else s.args for s in steps]
        self.inputs = [()] * n
        self.readers = readers = [[] for _ in range(n)]
        for i, args in enumerate(self.args):
            for a in args:
                readers[a].append(i)
            if args:
                self.inputs[i] = tuple([a for a in args if is_step[a]])


def peak_bytes(steps, order, outputs):
    """Largest total size of computed values alive at once when running `order`."""
    return _PeakSimulator(_Graph(steps), outputs).peak(order)


class _PeakSimulator:
    """`peak_bytes` for several orders of one graph: the reads and sizes are arrays made
    once, and each order is simulated with a few array operations.

    A value is alive from its step to its last reader (to the end for outputs); a running
    total extended in place (`add_into_total`) becomes the new total instead of dying.
    """

    def __init__(self, graph, outputs):
        self.n = n = graph.n
        src, dst = [], []  # one entry per (value, reader), values of computed steps only
        for i, args in enumerate(graph.args):
            for a in args:
                src.append(a)
                dst.append(i)
        self.src, self.dst = np.array(src, dtype=np.intp), np.array(dst, dtype=np.intp)
        self.size = np.array(graph.size, dtype=np.int64)
        self.computed = np.array(graph.is_step, dtype=bool)
        self.outputs = np.array(sorted(set(outputs)), dtype=np.intp)
        extending = [i for i in range(n) if graph.extends[i]]
        self.extending = np.array(extending, dtype=np.intp)
        self.totals = np.array([graph.steps[i].args[0] for i in extending], dtype=np.intp)

    def peak(self, order):
        """The simulated peak of `order` (a permutation of the steps)."""
        n = self.n
        position = np.empty(n, dtype=np.intp)
        position[np.asarray(order, dtype=np.intp)] = np.arange(n)
        last = np.full(n, -1, dtype=np.intp)  # position of each value's last reader
        np.maximum.at(last, self.src, position[self.dst])
        last[self.outputs] = n  # kept to the end
        made = np.zeros(n, dtype=np.int64)  # bytes a step adds, at its position
        freed = np.zeros(n + 1, dtype=np.int64)  # bytes freed after each position
        computed = self.computed
        made[position[computed]] = self.size[computed]
        dies = computed & (last >= 0)
        np.add.at(freed, last[dies], self.size[dies])
        # a total extended in place: the new total takes its bytes, which do not die
        at = position[self.extending]
        grown = self.size[self.totals]
        np.subtract.at(made, at, grown)
        np.subtract.at(freed, at, grown)
        change = made - freed[:n]
        alive_before = np.concatenate(([0], np.cumsum(change)[:-1]))
        peaks = (alive_before + made)[computed[np.asarray(order, dtype=np.intp)]]
        return int(max(peaks.max(initial=0), 0))


def _memory_greedy(graph, outputs):
    """Non-leaf Step indices in an order built from the end (see the module docstring)."""
    return _GreedyFromTheEnd(graph, outputs).run()


class _GreedyFromTheEnd:
    """The memory-greedy order. Placing steps from the last one backwards, a value starts
    living (in the reversed run) when its first reader is placed; of the steps whose
    readers are all placed, the one with the largest `gain` goes next:

        gain(i) = size(i) - cost(i) + sum over inputs a of i read by i alone and not
                  yet live of max(0, size(a) - cost(a))

    where cost(i) is the size of i's inputs not yet live: what placing i ends, less what
    it starts, plus what its single-reader inputs will end when placed right after it (a
    term of a running total counts with the total, so sums over time steps advance
    together, step by step). Ties go to the later step of the depth-first order.

    `cost` and the look-ahead sum (`ahead`) are kept up to date as values start living,
    so a gain costs nothing to read. Gains only grow as the run goes on (more inputs are
    live), so a heap entry can only be stale by being too low: popping one whose gain
    has grown, it is pushed again; every step whose gain grows while it is a candidate
    is pushed when it does.
    """

    def __init__(self, graph, outputs):
        self.g = graph
        n, size, is_step = graph.n, graph.size, graph.is_step
        self.inputs = graph.inputs  # only computed values count: leaves live elsewhere
        self.readers = [r if is_step[i] else [] for i, r in enumerate(graph.readers)]
        self.unplaced = [len(r) for r in self.readers]
        self.live = live = [False] * n
        for o in outputs:
            live[o] = True
        self.cost = cost = [0] * n
        for a in range(n):
            if not live[a]:
                for r in self.readers[a]:
                    cost[r] += size[a]
        self.ahead = ahead = [0] * n
        for a in range(n):
            if len(self.readers[a]) == 1 and not live[a] and size[a] > cost[a]:
                ahead[self.readers[a][0]] += size[a] - cost[a]
        self.placed = [False] * n

    def gain(self, i):
        """See the class docstring."""
        return self.g.size[i] - self.cost[i] + self.ahead[i]

    def run(self):
        """The order (non-leaf Step indices, first to last)."""
        g, placed, unplaced, inputs = self.g, self.placed, self.unplaced, self.inputs
        size, cost, ahead = g.size, self.cost, self.ahead
        heap = [(-self.gain(i), -i) for i in range(g.n) if g.is_step[i] and not self.readers[i]]
        heapq.heapify(heap)
        reversed_order = []
        while heap:
            neg_gain, neg_i = heapq.heappop(heap)
            i = -neg_i
            if placed[i]:
                continue
            gain = size[i] - cost[i] + ahead[i]
            if -neg_gain != gain:  # stale (see the class docstring)
                heapq.heappush(heap, (-gain, neg_i))
                continue
            placed[i] = True
            reversed_order.append(i)
            for a in inputs[i]:
                if not self.live[a]:
                    self._starts_living(a, heap)
                unplaced[a] -= 1
                if not unplaced[a]:
                    heapq.heappush(heap, (cost[a] - size[a] - ahead[a], -a))
        reversed_order.reverse()
        return reversed_order

    def _starts_living(self, a, heap):
        """`a` is live from now on: its other readers pay less to be placed, and so do
        the readers looking ahead to those; those that are candidates are pushed."""
        size, cost, ahead, live = self.g.size, self.cost, self.ahead, self.live
        readers, placed, unplaced = self.readers, self.placed, self.unplaced
        live[a] = True
        for r in readers[a]:
            before = size[r] - cost[r]
            cost[r] -= size[a]
            if len(readers[r]) == 1 and not live[r]:
                grown = max(0, size[r] - cost[r]) - max(0, before)
                q = readers[r][0]
                if grown:
                    ahead[q] += grown
                    if not placed[q] and not unplaced[q]:
                        heapq.heappush(heap, (cost[q] - size[q] - ahead[q], -q))
            if not placed[r] and not unplaced[r]:
                heapq.heappush(heap, (cost[r] - size[r] - ahead[r], -r))


def _hoist(graph, order, outputs):
    """`order` with running totals of long sums, and outputs, moved up to the first point
    where they can be computed from values already made plus terms read by them alone
    (computed with them). An output is kept to the end anyway, and computing it early
    frees its inputs early: a layer's weight gradient is made as soon as the layer's
    backward step is, not after the whole backward pass. Linear: each step counts the
    inputs it still waits for."""
    n, args, readers = graph.n, graph.args, graph.readers
    eager = list(graph.accumulates)
    for o in outputs:
        eager[o] = graph.is_step[o]
    # the eager step that a term feeds alone (-1: none), e.g. an outer product's total
    feeds = [r[0] if len(r) == 1 and eager[r[0]] and not eager[i] else -1
             for i, r in enumerate(readers)]
    done = [not s for s in graph.is_step]
    ready = list(done)  # made, or a term whose inputs are all made (made with its reader)
    waiting = [len(a) for a in args]  # inputs not ready yet (all leaves are ready)
    for i in range(n):
        if not graph.is_step[i]:
            for r in readers[i]:
                waiting[r] -= 1
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
    n = len(steps)
    last = [-1] * n  # position of each value's last reader
    for pos, i in enumerate(order):
        for a in steps[i].args:
            last[a] = pos
    for o in outputs:
        last[o] = -1
    released_at = [None] * n  # values whose last reader is at each position
    for i in range(n):
        pos = last[i]
        if pos >= 0:
            if released_at[pos] is None:
                released_at[pos] = [i]
            else:
                released_at[pos].append(i)
    slot, frees, free_slots, n_slots = [None] * n, {}, [], 0
    for pos, i in enumerate(order):
        if free_slots:
            slot[i] = free_slots.pop()
        else:
            slot[i], n_slots = n_slots, n_slots + 1
        done = released_at[pos]
        if done is not None:
            done = tuple(slot[a] for a in done)
            frees[i] = done
            free_slots.extend(done)
    return slot, frees, n_slots
