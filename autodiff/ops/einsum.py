"""`Einsum`, the universal contraction, and the ops built on it (matmul, transpose, ...).

An Einsum node is parsed and checked when it is built: ellipses are expanded to explicit
labels, label sizes are checked (equal, or 1 to broadcast), and an execution plan is made
once and reused at every evaluation:

1. each operand is *prepared*: size-1 broadcast axes squeezed, repeated labels reduced to
   their diagonal, labels that occur nowhere else summed away;
2. operands are contracted pairwise in the order ``numpy.einsum_path`` finds cheapest;
   each pairwise contraction is a (batched) ``matmul`` on transposed, reshaped operands,
   so it runs on BLAS.

Gradient: the cotangent of operand k is the einsum of the output cotangent with the other
operands, with the output's subscript and operand k's swapped in. Labels of operand k that
no other input carries (summed in k alone) come back by broadcasting; repeated labels
(``'ii->i'``) come back by multiplying with an identity matrix; squeezed broadcast axes by
a reshape. The same node passed twice simply receives two cotangents.
"""
import string

import numpy as np

from ..core.node import Node, as_nodes, Constant

LETTERS = string.ascii_letters

# Parsed subscripts and plans by (subscripts, operand shapes). A pure memo: equal keys
# always give equal plans, so sharing it between graphs cannot make them interfere.
_PLANS = {}
_MAX_PLANS = 4096


class Einsum(Node):
    """``Einsum("ij,jk->ik", a, b)``: numpy's einsum as a graph node (see module docstring)."""

    op_label = "einsum"

    def __init__(self, op_str, *operands, name=None):
        if not isinstance(op_str, str):
            raise TypeError(f"Einsum: the first argument must be a subscripts string, got {op_str!r}")
        operands = as_nodes(*operands)
        super().__init__(*operands, name=name, op_str=op_str.replace(" ", ""))

    def infer_shape(self, *shapes):
        key = (self.op_str, shapes)
        cached = _PLANS.get(key)
        if cached is None:
            inputs, output, sizes = parse(self.op_str, shapes, self.children)
            cached = (inputs, output, sizes, make_plan(inputs, output, sizes, shapes))
            if len(_PLANS) >= _MAX_PLANS:
                _PLANS.clear()
            _PLANS[key] = cached
        self.inputs, self.output, self.sizes, self.plan = cached
        return tuple(self.sizes[label] for label in self.output)

    def infer_dtype(self, *dtypes):
        return np.result_type(*dtypes)

    def forward(self, *values):
        return run_plan(self.plan, values)

    def kernel(self):
        return matrix_product_kernel(self.plan) or self.forward

    @property
    def subscripts(self):
        """The normalised subscripts: explicit labels, explicit output."""
        return ",".join(self.inputs) + "->" + self.output

    def vjp(self, g):
        return [einsum_operand_cotangent(self, k, g) for k in range(len(self.children))]


def einsum_operand_cotangent(node, k, g):
    """Cotangent of operand `k` of Einsum `node`, as an einsum of `g` with the others."""
    operand = node.children[k]
    subs = node.inputs[k]
    unique = "".join(dict.fromkeys(subs))
    # Squeezed broadcast axes: an operand axis of size 1 where the label is larger.
    broadcast = {label for label, dim in zip(subs, operand.shape) if dim != node.sizes[label]}
    wanted = "".join(label for label in unique if label not in broadcast)
    others = [(node.inputs[i], c) for i, c in enumerate(node.children) if i != k]
    # a label only some size-1 (broadcast) operand carries comes back by broadcasting
    available = set(node.output).union(*[
        {l for l, d in zip(s, c.shape) if d == node.sizes[l]} for s, c in others])
    computed = "".join(label for label in wanted if label in available)
    in_subs = ",".join([node.output] + [s for s, _ in others])
    if in_subs == computed:
        result = g
    else:
        result = Einsum(in_subs + "->" + computed, g, *[c for _, c in others])
    if computed != wanted:  # labels summed in this operand alone: broadcast back
        shape_with_ones = tuple(node.sizes[l] if l in computed else 1 for l in wanted)
        from .shape_ops import Reshape, BroadcastTo
        result = BroadcastTo(Reshape(result, shape_with_ones),
                             tuple(node.sizes[l] for l in wanted))
    if len(unique) != len(subs):  # repeated labels: embed on the diagonal
        result = _embed_diagonal(result, wanted, subs, node.sizes, broadcast)
    if result.shape != operand.shape:  # put squeezed broadcast axes back
        from .shape_ops import Reshape
        result = Reshape(result, operand.shape)
    return result


def _embed_diagonal(result, wanted, subs, sizes, broadcast):
    """Spread `result` (labels `wanted`) over an operand whose subscripts repeat labels."""
    fresh = iter(l for l in LETTERS if l not in subs and l not in wanted)
    target, deltas, seen = "", [], set()
    for label in subs:
        if label in broadcast:
            continue
        if label in seen:
            new = next(fresh)
            deltas.append(label + new)
            target += new
        else:
            seen.add(label)
            target += label
    eyes = [Constant(np.eye(sizes[d[0]], dtype=result.dtype)) for d in deltas]
    return Einsum(",".join([wanted] + deltas) + "->" + target, result, *eyes)


# --- parsing ---------------------------------------------------------------------------

def parse(op_str, shapes, operands):
    """Normalise einsum subscripts for `operands` (nodes) of `shapes`.

    Returns (inputs, output, sizes): one label string per operand with ellipses expanded,
    the output labels, and the size of every label. Raises ValueError naming the operands.
    """
    def fail(why):
        names = ", ".join(c.describe() for c in operands)
        raise ValueError(f"Einsum '{op_str}' on {names}: {why}")

    if op_str.count("->") > 1:
        fail("more than one '->'")
    lhs, arrow, rhs = op_str.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        fail(f"the subscripts name {len(inputs)} operand(s) but {len(shapes)} were given")
    for part in inputs + ([rhs] if arrow else []):
        bad = set(part.replace("...", "")) - set(LETTERS)
        if bad or part.count("...") > 1:
            fail(f"invalid subscripts {part!r}: use letters and at most one '...'")
    used = set(lhs.replace("...", "").replace(",", "")) | set(rhs.replace("...", ""))
    free = [l for l in LETTERS if l not in used]
    ellipsis_rank = 0
    for part, shape in zip(inputs, shapes):
        explicit = len(part.replace("...", ""))
        if "..." in part:
            if len(shape) < explicit:
                fail(f"operand subscripts {part!r} need at least {explicit} dimensions, got shape {shape}")
            ellipsis_rank = max(ellipsis_rank, len(shape) - explicit)
        elif len(shape) != explicit:
            fail(f"operand subscripts {part!r} name {explicit} dimension(s) but the operand has shape {shape}")
    ell = "".join(free[:ellipsis_rank])
    expanded = []
    for part, shape in zip(inputs, shapes):
        n = len(shape) - len(part.replace("...", ""))
        expanded.append(part.replace("...", ell[len(ell) - n:] if n else ""))
    if arrow:
        # An output without '...' sums the ellipsis dimensions away.
        output = rhs.replace("...", ell)
        if len(set(output)) != len(output):
            fail(f"output subscripts {rhs!r} repeat a label")
        unknown = set(output) - set("".join(expanded))
        if unknown:
            fail(f"output label(s) {''.join(sorted(unknown))!r} appear in no operand")
    else:
        counts = {}
        for label in "".join(expanded):
            counts[label] = counts.get(label, 0) + 1
        output = ell + "".join(sorted(l for l, c in counts.items() if c == 1 and l not in ell))
    sizes = {}
    for part, shape in zip(expanded, shapes):
        own = {}
        for label, dim in zip(part, shape):
            if own.setdefault(label, dim) != dim:  # a repeated label is a diagonal
                fail(f"label {label!r} repeats in operand subscripts {part!r} with sizes "
                     f"{own[label]} and {dim}; a diagonal needs equal sizes")
            old = sizes.get(label)
            if old is None or old == 1:
                sizes[label] = dim
            elif dim != old and dim != 1:  # only size 1 broadcasts (0 is a real size)
                fail(f"label {label!r} has size {old} in one operand and {dim} in another")
    for label in set(output) - set(sizes):
        sizes[label] = 1
    return expanded, output, sizes


# --- planning and execution ----------------------------------------------------------

def make_plan(inputs, output, sizes, shapes):
    """A fixed schedule of numpy calls computing the einsum (see module docstring)."""
    prepared, prep_steps = [], []
    for k, (subs, shape) in enumerate(zip(inputs, shapes)):
        keep = set(output).union(*[inputs[i] for i in range(len(inputs)) if i != k])
        kept = "".join(l for l in dict.fromkeys(subs)
                       if l in keep and not (shape[subs.index(l)] == 1 and sizes[l] != 1))
        # squeezed broadcast axes and lone labels go; repeated labels become one
        squeeze = tuple(i for i, (l, d) in enumerate(zip(subs, shape)) if d == 1 and sizes[l] != 1)
        rest = "".join(l for i, l in enumerate(subs) if i not in squeeze)
        prep_steps.append(_single_operand_step(rest, kept, squeeze))
        prepared.append(kept)
    if len(prepared) == 1:
        return ("single", prep_steps, _single_operand_step(prepared[0], output, ()))
    pair_steps, labels = [], list(prepared)
    for a, b in pairwise_order(prepared, output, sizes):
        live = [labels[i] for i in _live_after(len(prepared), pair_steps, a, b)]
        needed = set(output).union(*live)
        step, result = _pair_step(labels[a], labels[b], needed, sizes)
        pair_steps.append((a, b, step))
        labels.append(result)
    final = _single_operand_step(labels[-1], output, ())
    return ("pairs", prep_steps, pair_steps, final)


def _live_after(n, done, a, b):
    """Operand ids (inputs 0..n-1, then one per step) still unconsumed after step (a, b)."""
    consumed = {a, b}.union(*[(x, y) for x, y, _ in done])
    return [i for i in range(n + len(done)) if i not in consumed]


def run_plan(plan, values):
    """Execute a plan made by `make_plan` on operand values."""
    if plan[0] == "single":
        _, prep, final = plan
        return _run_single(final, _run_single(prep[0], values[0]))
    _, prep, pairs, final = plan
    operands = [_run_single(p, v) for p, v in zip(prep, values)]
    for a, b, step in pairs:  # step t's result gets id len(values) + t
        operands.append(_run_pair(step, operands[a], operands[b]))
        operands[a] = operands[b] = None  # free what is consumed
    return _run_single(final, operands[-1])


def matrix_product_kernel(plan):
    """A direct np.dot for plans that are one (transposed) matrix or vector product.

    Such small contractions dominate recurrent networks, where the general pairwise path
    (reshapes, size products) costs several times the multiplication itself.
    """
    if plan[0] != "pairs" or any(plan[1]) or len(plan[2]) != 1:
        return None
    (i, j, (a_sum, b_sum, a_perm, b_perm, (nb, na, nc, nf))), final = plan[2][0], plan[3]
    if (i, j) != (0, 1) or a_sum or b_sum or nb or nc != 1 or na > 1 or nf > 1:
        return None
    if final is not None and (final[0] != "sum_perm" or final[1] or final[2]):
        return None
    transpose_a, transpose_b, transpose_out = a_perm is not None, b_perm is not None, final is not None

    def matrix_product(a, b):
        out = np.dot(a.T if transpose_a else a, b.T if transpose_b else b)
        return out.T if transpose_out else out
    return matrix_product


def _single_operand_step(subs, out, squeeze):
    """How to turn an operand with labels `subs` (after squeezing) into labels `out`."""
    if subs == out and not squeeze:
        return None
    if len(set(subs)) == len(subs):
        summed = tuple(i for i, l in enumerate(subs) if l not in out)
        remaining = [l for l in subs if l in out]
        perm = tuple(remaining.index(l) for l in out)
        return ("sum_perm", squeeze, summed, perm if perm != tuple(range(len(perm))) else None)
    return ("einsum", squeeze, f"{subs}->{out}")


def _run_single(step, x):
    if step is None:
        return x
    kind, squeeze = step[0], step[1]
    if squeeze:
        x = x.reshape([d for i, d in enumerate(x.shape) if i not in squeeze])
    if kind == "einsum":
        return np.einsum(step[2], x)
    _, _, summed, perm = step
    if summed:
        x = x.sum(axis=summed)
    if perm is not None:
        x = x.transpose(perm)
    return x


def pairwise_order(inputs, output, sizes):
    """The cheapest contraction order, as pairs of operand ids.

    Ids 0..n-1 are the inputs; the result of the t-th pair gets id n + t. The order comes
    from numpy.einsum_path, whose groups of three or more operands are split into pairs.
    """
    n = len(inputs)
    if n == 2:
        return [(0, 1)]
    dummies = [np.lib.stride_tricks.as_strided(np.zeros(1), [sizes[l] for l in s],
                                               [0] * len(s)) for s in inputs]
    strategy = "optimal" if n <= 4 else "greedy"
    path = np.einsum_path(",".join(inputs) + "->" + output, *dummies, optimize=strategy)[0]
    current, pairs = list(range(n)), []
    for group in path[1:]:
        ids = [current[i] for i in group]
        current = [c for i, c in enumerate(current) if i not in group]
        acc = ids[0]
        for other in ids[1:]:
            pairs.append((acc, other))
            acc = n + len(pairs) - 1
        current.append(acc)
    return pairs


def _pair_step(a, b, needed, sizes):
    """Plan ``a, b -> result`` as a batched matmul; returns (step, result labels)."""
    batch = [l for l in a if l in b and l in needed]
    contracted = [l for l in a if l in b and l not in needed]
    a_free = [l for l in a if l not in b and l in needed]
    b_free = [l for l in b if l not in a and l in needed]
    a_sum = tuple(i for i, l in enumerate(a) if l not in b and l not in needed)
    b_sum = tuple(i for i, l in enumerate(b) if l not in a and l not in needed)
    a_left = [l for l in a if l in b or l in needed]
    b_left = [l for l in b if l in a or l in needed]
    a_perm = tuple(a_left.index(l) for l in batch + a_free + contracted)
    b_perm = tuple(b_left.index(l) for l in batch + contracted + b_free)
    groups = (len(batch), len(a_free), len(contracted), len(b_free))
    step = (a_sum, b_sum, _maybe(a_perm), _maybe(b_perm), groups)
    return step, "".join(batch + a_free + b_free)


def _maybe(perm):
    return None if perm == tuple(range(len(perm))) else perm


def _run_pair(step, a, b):
    a_sum, b_sum, a_perm, b_perm, (nb, na, nc, nf) = step
    if a_sum:
        a = a.sum(axis=a_sum)
    if b_sum:
        b = b.sum(axis=b_sum)
    if a_perm is not None:
        a = a.transpose(a_perm)
    if b_perm is not None:
        b = b.transpose(b_perm)
    batch_shape = a.shape[:nb]
    a_free_shape = a.shape[nb:nb + na]
    b_free_shape = b.shape[nb + nc:]
    m = _prod(a_free_shape)
    k = _prod(a.shape[nb + na:])
    n = _prod(b_free_shape)
    if nb:
        bsz = _prod(batch_shape)
        out = np.matmul(a.reshape(bsz, m, k), b.reshape(bsz, k, n))
    elif nc == 0:  # outer product
        out = np.multiply(a.reshape(m, 1), b.reshape(1, n))
    else:
        out = np.dot(a.reshape(m, k), b.reshape(k, n))
    return out.reshape(batch_shape + a_free_shape + b_free_shape)


def _prod(dims):
    result = 1
    for d in dims:
        result *= d
    return result
