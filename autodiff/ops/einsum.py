"""`Einsum`, the universal contraction, and the ops that are einsums: `Transpose` and
`MatMul` (and, through the functions, dot, tensordot, outer, trace, diagonal, axis sums).

An Einsum node is parsed and checked when it is built: ellipses are expanded to explicit
labels, label sizes are checked (equal, or 1 to broadcast), and an execution `Plan` is
made once and reused at every evaluation:

1. each operand is *prepared* (`OperandStep`): size-1 broadcast axes squeezed, repeated
   labels reduced to their diagonal, labels that occur nowhere else summed away;
2. operands are contracted pairwise (`PairStep`) in the order ``numpy.einsum_path`` finds
   cheapest; each pairwise contraction is a (batched) ``matmul`` on transposed, reshaped
   operands, so it runs on BLAS.

Gradient: the cotangent of operand k is the einsum of the output cotangent with the other
operands, with the output's subscript and operand k's swapped in. Labels of operand k that
no other input carries (summed in k alone) come back by broadcasting; repeated labels
(``'ii->i'``) come back by multiplying with an identity matrix; squeezed broadcast axes by
a reshape. The same node passed twice simply receives two cotangents.
"""
import functools
import string
from collections import namedtuple

import numpy as np

from ..core.context import cotangent_needed
from ..core.dtypes import promote
from ..core.node import Node, Constant, as_node, as_nodes
from ..core.shapes import describe_operands, normalize_axis
from .shape_ops import BroadcastTo, Reshape

__all__ = ["Einsum", "Transpose", "MatMul"]

LETTERS = string.ascii_letters

#: What an Einsum node knows after parsing: one label string per operand (ellipses
#: expanded), the output labels, the size of every label, and the execution plan.
#: A parsed einsum: labels per operand, output labels, label sizes, the contraction plan,
#: the plan's direct matrix-product kernel when it is one (else None), the output shape.
EinsumSpec = namedtuple("EinsumSpec", "inputs output sizes plan matrix_kernel shape")

#: How one operand is brought to the labels it keeps: axes squeezed, axes summed, a
#: permutation, or (for repeated labels) an ``np.einsum`` subscripts string doing it all.
OperandStep = namedtuple("OperandStep", "squeeze summed perm subscripts")

#: One pairwise contraction of operands `a` and `b` (ids: inputs, then one per step) as a
#: batched matmul: axes summed in each first, permutations to (batch, free, contracted)
#: order, and the number of batch, a-free, contracted and b-free axes.
PairStep = namedtuple("PairStep", "a b a_sum b_sum a_perm b_perm batch a_free contracted b_free")

#: The whole schedule: a step (or None) per operand, the pairwise steps, a final step.
Plan = namedtuple("Plan", "prepare pairs final")

# Specs by (subscripts, operand shapes). A pure memo: equal keys always give equal specs,
# so sharing it between graphs cannot make them interfere.
_SPECS = {}
_MAX_SPECS = 4096


class Einsum(Node):
    """``Einsum("ij,jk->ik", a, b)``: numpy's einsum as a graph node (see module docstring)."""

    op_label = "einsum"
    elementwise = False
    finite = True

    def __init__(self, op_str, *operands, name=None):
        if not isinstance(op_str, str):
            raise TypeError(f"Einsum: the first argument must be a subscripts string, "
                            f"got {op_str!r}")
        operands = as_nodes(*operands)
        if " " in op_str:
            op_str = op_str.replace(" ", "")
        for o in operands:
            if o.dtype.kind == "b":
                raise TypeError(f"Einsum '{op_str}': boolean operand {o.describe()}; numpy's "
                                f"einsum of booleans is a logical or, not a sum: cast it first "
                                f"(ad.Cast(x, 'int64')), or use ad.sum")
        self.spec = einsum_spec(op_str, operands)
        super().__init__(*operands, name=name, op_str=op_str)

    @property
    def inputs(self):
        """One label string per operand, ellipses expanded."""
        return self.spec.inputs

    @property
    def output(self):
        """The output labels."""
        return self.spec.output

    @property
    def sizes(self):
        """The size of every label."""
        return self.spec.sizes

    @property
    def subscripts(self):
        """The normalised subscripts: explicit labels, explicit output."""
        return ",".join(self.inputs) + "->" + self.output

    def infer_shape(self, *shapes):
        return self.spec.shape

    def infer_dtype(self, *dtypes):
        return promote(*dtypes)

    def forward(self, *values):
        return run_plan(self.spec.plan, values)

    def lower_dask(self, lowering, *values):
        values = [lowering.da.asarray(v) for v in values]
        # optimize: numpy's einsum on each block then contracts through BLAS (tensordot)
        # in the cheapest pairwise order, as our own plan does, not in one naive loop
        return lowering.da.einsum(self.subscripts, *values, dtype=self.dtype,
                                  split_every=lowering.split_every, optimize=True)

    def lower_jax(self, lowering, *values):
        """The numpy plan's steps (the same contraction order as numpy), each pairwise
        contraction one `lowering.dot_general` on the operands as they are laid out, each
        sum a `lowering.sum`."""
        values = [v.astype(self.dtype) for v in values]
        return lower_plan(lowering, self.spec.plan, values, self.dtype)

    def kernel(self):
        return self.spec.matrix_kernel or self.forward

    def with_children(self, children):
        return Einsum(self.op_str, *children)

    def vjp(self, g):
        return [einsum_operand_cotangent(self, k, g) if cotangent_needed(k) else None
                for k in range(len(self.children))]

    def jvp(self, tangents):
        """Multilinear: the sum over operands of the einsum with that operand's tangent."""
        terms = [Einsum(self.op_str, *self.children[:k], t, *self.children[k + 1:])
                 for k, t in enumerate(tangents) if t is not None]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    def batch(self, operands, batched, size):
        """A new leading label on the batched operands and the output."""
        label = next(l for l in LETTERS if l not in "".join(self.inputs) + self.output)
        inputs = [label + s if b else s for s, b in zip(self.inputs, batched)]
        return Einsum(",".join(inputs) + "->" + label + self.output, *operands)


class Transpose(Einsum):
    """``Transpose(node, axes=None)``: numpy.transpose, as a one-operand einsum."""

    op_label = "transpose"

    def __init__(self, node, axes=None, *, name=None):
        node = as_node(node)
        if axes is None:
            order = tuple(reversed(range(node.ndim)))
        else:
            if not isinstance(axes, (tuple, list)) or len(axes) != node.ndim:
                raise ValueError(f"Transpose: axes {axes!r} must list each of the {node.ndim} "
                                 f"axes of {node.describe()} once")
            order = tuple(normalize_axis("Transpose", node, a) for a in axes)
            if sorted(order) != list(range(node.ndim)):
                raise ValueError(f"Transpose: axes {axes!r} are not a permutation of the "
                                 f"{node.ndim} axes of {node.describe()}")
        labels = LETTERS[:node.ndim]
        super().__init__(labels + "->" + "".join(labels[a] for a in order), node, name=name)


class MatMul(Einsum):
    """``MatMul(a, b)``: numpy.matmul (``a @ b``), as an einsum; batch axes broadcast."""

    op_label = "@"

    def __init__(self, a, b, *, name=None):
        a, b = as_nodes(a, b)
        ndim_a, ndim_b = len(a.shape), len(b.shape)
        if ndim_a == 0 or ndim_b == 0:
            raise ValueError(f"MatMul: operands {a.describe()} and {b.describe()} must have at "
                             f"least one dimension (use * for scalars)")
        inner_a = a.shape[-1]
        inner_b = b.shape[-2] if ndim_b > 1 else b.shape[0]
        if inner_a != inner_b:
            raise ValueError(f"MatMul: {a.describe()} @ {b.describe()}: inner dimensions "
                             f"{inner_a} and {inner_b} differ")
        super().__init__(_MATMUL_SUBSCRIPTS[ndim_a == 1, ndim_b == 1], a, b, name=name)


#: numpy.matmul as einsum subscripts, by (a is 1-D, b is 1-D): a 1-D operand is a
#: vector; other operands are stacks of matrices.
_MATMUL_SUBSCRIPTS = {(False, False): "...ij,...jk->...ik", (True, False): "j,...jk->...k",
                      (False, True): "...ij,j->...i", (True, True): "j,j->"}


def einsum_spec(op_str, operands):
    """The memoised `EinsumSpec` of `op_str` on `operands` (nodes)."""
    shapes = tuple(o.shape for o in operands)
    key = (op_str, shapes)
    spec = _SPECS.get(key)
    if spec is None:
        inputs, output, sizes = parse(op_str, shapes, operands)
        plan = make_plan(inputs, output, sizes, shapes)
        spec = EinsumSpec(tuple(inputs), output, sizes, plan, matrix_product_kernel(plan),
                          tuple(sizes[label] for label in output))
        if len(_SPECS) >= _MAX_SPECS:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


# --- the derivative rule ----------------------------------------------------------------

def einsum_operand_cotangent(node, k, g):
    """Cotangent of operand `k` of Einsum `node`, as an einsum of `g` with the others."""
    recipe = _cotangent_recipe(node.op_str, tuple(c.shape for c in node.children), k)
    others = [c for i, c in enumerate(node.children) if i != k]
    result = g if recipe.subscripts is None else Einsum(recipe.subscripts, g, *others)
    if recipe.spread is not None:  # labels summed in this operand alone: broadcast back
        shape_with_ones, target = recipe.spread
        if shape_with_ones[len(shape_with_ones) - result.ndim:] != result.shape:
            result = Reshape(result, shape_with_ones)  # (leading ones broadcast by rule)
        result = BroadcastTo(result, target)
    if recipe.diagonal is not None:  # repeated labels: embed on the diagonal
        subscripts, sizes = recipe.diagonal
        eyes = [Constant(np.eye(n, dtype=result.dtype)) for n in sizes]
        result = Einsum(subscripts, result, *eyes)
    if result.shape != node.children[k].shape:  # put squeezed broadcast axes back
        result = Reshape(result, node.children[k].shape)
    return result


#: How to build an operand's cotangent (see `_cotangent_recipe`).
CotangentRecipe = namedtuple("CotangentRecipe", "subscripts spread diagonal")


@functools.lru_cache(maxsize=4096)  # a derivative rule runs per node; the recipe per op shape
def _cotangent_recipe(op_str, shapes, k):
    """For operand `k` of ``Einsum(op_str)`` on operands of `shapes`: the einsum of the
    output cotangent with the other operands (None when the cotangent is already it), the
    reshape and broadcast back of labels summed in operand k alone, and the diagonal
    embedding of repeated labels (None when not needed)."""
    spec = einsum_spec(op_str, [_Shaped(s) for s in shapes])
    sizes, subs = spec.sizes, spec.inputs[k]
    unique = "".join(dict.fromkeys(subs))
    # Squeezed broadcast axes: an operand axis of size 1 where the label is larger.
    broadcast = {label for label, dim in zip(subs, shapes[k]) if dim != sizes[label]}
    wanted = "".join(label for label in unique if label not in broadcast)
    others = [(spec.inputs[i], shapes[i]) for i in range(len(shapes)) if i != k]
    # a label only some size-1 (broadcast) operand carries comes back by broadcasting
    available = set(spec.output).union(*[
        {l for l, d in zip(s, shape) if d == sizes[l]} for s, shape in others])
    computed = "".join(label for label in wanted if label in available)
    in_subs = ",".join([spec.output] + [s for s, _ in others])
    subscripts = None if in_subs == computed else in_subs + "->" + computed
    spread = None
    if computed != wanted:
        spread = (tuple(sizes[l] if l in computed else 1 for l in wanted),
                  tuple(sizes[l] for l in wanted))
    diagonal = _diagonal_embedding(wanted, subs, sizes, broadcast) \
        if len(unique) != len(subs) else None
    return CotangentRecipe(subscripts, spread, diagonal)


class _Shaped:
    """Stands for an operand of a shape in `einsum_spec` (only `shape` is read)."""

    def __init__(self, shape):
        self.shape = shape

    def describe(self):
        return f"<operand> {self.shape}"


def _diagonal_embedding(wanted, subs, sizes, broadcast):
    """(einsum subscripts, identity sizes) spreading a value with labels `wanted` over an
    operand whose subscripts repeat labels, through identity matrices."""
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
    return ",".join([wanted] + deltas) + "->" + target, tuple(sizes[d[0]] for d in deltas)


# --- parsing ---------------------------------------------------------------------------

def parse(op_str, shapes, operands):
    """Normalise einsum subscripts for `operands` (nodes) of `shapes`.

    Returns (inputs, output, sizes): one label string per operand with ellipses expanded,
    the output labels, and the size of every label. Raises ValueError naming the operands.
    """
    def fail(why):
        raise ValueError(f"Einsum '{op_str}' on {describe_operands(operands)}: {why}")

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
                fail(f"operand subscripts {part!r} need at least {explicit} dimensions, "
                     f"got shape {shape}")
            ellipsis_rank = max(ellipsis_rank, len(shape) - explicit)
        elif len(shape) != explicit:
            fail(f"operand subscripts {part!r} name {explicit} dimension(s) but the operand "
                 f"has shape {shape}")
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
    prepared, prepare = [], []
    for k, (subs, shape) in enumerate(zip(inputs, shapes)):
        keep = set(output).union(*[inputs[i] for i in range(len(inputs)) if i != k])
        kept = "".join(l for l in dict.fromkeys(subs)
                       if l in keep and not (shape[subs.index(l)] == 1 and sizes[l] != 1))
        # squeezed broadcast axes and lone labels go; repeated labels become one
        squeeze = tuple(i for i, (l, d) in enumerate(zip(subs, shape)) if d == 1 and sizes[l] != 1)
        rest = "".join(l for i, l in enumerate(subs) if i not in squeeze)
        prepare.append(_operand_step(rest, kept, squeeze))
        prepared.append(kept)
    if len(prepared) == 1:
        return Plan(tuple(prepare), (), _operand_step(prepared[0], output, ()))
    pairs, labels = [], list(prepared)
    for a, b in pairwise_order(prepared, output, sizes):
        live = [labels[i] for i in _live_after(len(prepared), pairs, a, b)]
        needed = set(output).union(*live)
        step, result = _pair_step(a, b, labels[a], labels[b], needed)
        pairs.append(step)
        labels.append(result)
    return Plan(tuple(prepare), tuple(pairs), _operand_step(labels[-1], output, ()))


def _live_after(n, done, a, b):
    """Operand ids (inputs 0..n-1, then one per step) still unconsumed after step (a, b)."""
    consumed = {a, b}.union(*[(p.a, p.b) for p in done])
    return [i for i in range(n + len(done)) if i not in consumed]


def run_plan(plan, values):
    """Execute a `Plan` on operand values."""
    operands = [_run_operand_step(step, v) for step, v in zip(plan.prepare, values)]
    for step in plan.pairs:  # step t's result gets id len(values) + t
        operands.append(_run_pair(step, operands[step.a], operands[step.b]))
        operands[step.a] = operands[step.b] = None  # free what is consumed
    return _run_operand_step(plan.final, operands[-1])


def lower_plan(lowering, plan, values, dtype):
    """`run_plan` for the jax backend: the same steps on jax values (see Einsum.lower_jax)."""
    operands = [_lower_operand_step(lowering, step, v) for step, v in zip(plan.prepare, values)]
    final = plan.final
    for k, step in enumerate(plan.pairs):
        a, b = operands[step.a], operands[step.b]
        if k == len(plan.pairs) - 1 and _swapped_is_final(step, final):
            # the last product with its operands the other way round gives the output's
            # layout directly: no transpose after it, which XLA would fold into the
            # product as a transposed operand (the slow layout, see lowering.dot_general)
            operands.append(_lower_pair(lowering, _swap(step), b, a, dtype))
            final = None
        else:
            operands.append(_lower_pair(lowering, step, a, b, dtype))
    return _lower_operand_step(lowering, final, operands[-1])


def _swapped_is_final(step, final):
    """Whether the final step only reorders the pair's result (batch, free of a, free of
    b) into (batch, free of b, free of a)."""
    if final is None or final.squeeze or final.summed or final.subscripts or not step.a_free \
            or not step.b_free:
        return False
    nb, na, nf = step.batch, step.a_free, step.b_free
    return final.perm == tuple(range(nb)) + tuple(range(nb + na, nb + na + nf)) \
        + tuple(range(nb, nb + na))


def _swap(step):
    """The same pairwise product with the roles of a and b exchanged."""
    def as_b(perm, n_batch, n_free):  # (batch, free, contracted) -> (batch, contracted, free)
        perm = perm if perm is not None else tuple(range(n_batch + n_free + step.contracted))
        return perm[:n_batch] + perm[n_batch + n_free:] + perm[n_batch:n_batch + n_free]

    def as_a(perm, n_batch, n_free):  # (batch, contracted, free) -> (batch, free, contracted)
        perm = perm if perm is not None else tuple(range(n_batch + step.contracted + n_free))
        return perm[:n_batch] + perm[n_batch + step.contracted:] \
            + perm[n_batch:n_batch + step.contracted]

    return step._replace(a=step.b, b=step.a, a_sum=step.b_sum, b_sum=step.a_sum,
                         a_perm=as_a(step.b_perm, step.batch, step.b_free),
                         b_perm=as_b(step.a_perm, step.batch, step.a_free),
                         a_free=step.b_free, b_free=step.a_free)


def _lower_operand_step(lowering, step, x):
    if step is None:
        return x
    if step.squeeze:
        x = x.reshape([d for i, d in enumerate(x.shape) if i not in step.squeeze])
    if step.subscripts:  # repeated labels: a diagonal
        return lowering.jnp.einsum(step.subscripts, x)
    if step.summed:
        x = lowering.sum(x, step.summed, dtype=x.dtype)
    if step.perm is not None:
        x = lowering.jnp.transpose(x, step.perm)
    return x


def _lower_pair(lowering, step, a, b, dtype):
    """One `PairStep` as a dot_general on the operands' own layouts: the permutations
    say where the batch, free and contracted axes are (the result's axes are batch,
    free of a, free of b, as `_run_pair` makes them)."""
    if step.a_sum:
        a = lowering.sum(a, step.a_sum, dtype=a.dtype)
    if step.b_sum:
        b = lowering.sum(b, step.b_sum, dtype=b.dtype)
    nb, na, nc = step.batch, step.a_free, step.contracted
    a_axes = step.a_perm if step.a_perm is not None else tuple(range(a.ndim))
    b_axes = step.b_perm if step.b_perm is not None else tuple(range(b.ndim))
    return lowering.dot_general(a, b, (a_axes[nb + na:], b_axes[nb:nb + nc]),
                                (a_axes[:nb], b_axes[:nb]), dtype)


def matrix_product_kernel(plan):
    """A direct np.dot for plans that are one (transposed) matrix or vector product.

    Such small contractions dominate recurrent networks, where the general pairwise path
    (reshapes, size products) costs several times the multiplication itself.
    """
    if any(plan.prepare) or len(plan.pairs) != 1:
        return None
    step, final = plan.pairs[0], plan.final
    if (step.a, step.b) != (0, 1) or step.a_sum or step.b_sum or step.batch \
            or step.contracted != 1 or step.a_free > 1 or step.b_free > 1:
        return None
    if final is not None and (final.subscripts or final.squeeze or final.summed):
        return None
    transpose_a, transpose_b = step.a_perm is not None, step.b_perm is not None
    if final is not None:
        # (A B)^T is computed as B^T A^T: a fresh row-major result, not a transposed
        # view, which every reader would read across (and an output would be copied)
        def transposed_product(a, b):
            return np.dot(b if transpose_b else b.T, a if transpose_a else a.T)
        return transposed_product

    def matrix_product(a, b):
        return np.dot(a.T if transpose_a else a, b.T if transpose_b else b)
    return matrix_product


def _operand_step(subs, out, squeeze):
    """How to turn an operand with labels `subs` (after squeezing) into labels `out`."""
    if subs == out and not squeeze:
        return None
    if len(set(subs)) == len(subs):
        summed = tuple(i for i, l in enumerate(subs) if l not in out)
        remaining = [l for l in subs if l in out]
        perm = tuple(remaining.index(l) for l in out)
        return OperandStep(squeeze, summed, _maybe(perm), None)
    return OperandStep(squeeze, (), None, f"{subs}->{out}")


def _run_operand_step(step, x):
    if step is None:
        return x
    if step.squeeze:
        x = x.reshape([d for i, d in enumerate(x.shape) if i not in step.squeeze])
    if step.subscripts:
        return np.einsum(step.subscripts, x)
    if step.summed:
        x = x.sum(axis=step.summed, dtype=x.dtype)  # numpy's einsum keeps the dtype
    if step.perm is not None:
        x = x.transpose(step.perm)
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


def _pair_step(a_id, b_id, a, b, needed):
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
    step = PairStep(a_id, b_id, a_sum, b_sum, _maybe(a_perm), _maybe(b_perm),
                    len(batch), len(a_free), len(contracted), len(b_free))
    return step, "".join(batch + a_free + b_free)


def _maybe(perm):
    return None if perm == tuple(range(len(perm))) else perm


def _run_pair(step, a, b):
    if step.a_sum:
        a = a.sum(axis=step.a_sum, dtype=a.dtype)
    if step.b_sum:
        b = b.sum(axis=step.b_sum, dtype=b.dtype)
    if step.a_perm is not None:
        a = a.transpose(step.a_perm)
    if step.b_perm is not None:
        b = b.transpose(step.b_perm)
    nb, na, nc = step.batch, step.a_free, step.contracted
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
