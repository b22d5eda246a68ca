"""The op table: one spec per public operation (and per axis/keepdims/variant).

Each `OpSpec` says how to build the op from autodiff nodes (`fn`), how numpy computes the
same thing (`ref`, written independently of autodiff: plain numpy formulas, no stable
tricks copied from the library), the input domain of every operand (kept away from
non-differentiable points and singularities so finite differences are valid), and a
hypothesis strategy for the operand shapes. `tests/test_op_table.py` generates the
forward, gradient and second-derivative tests from this table.

`covers` names the public API an entry exercises: function names (``"sum"``), op classes
(``"ReduceSumKeepDims"``) and operators (``"operator:r-"`` for ``3 - x``). A new public op
without an entry here makes `test_op_table.py::test_table_covers_*` fail.
"""
import functools
from dataclasses import dataclass
from typing import Any, Callable, Tuple

import numpy as np
import hypothesis.extra.numpy as hnp
from hypothesis import strategies as st

import autodiff as ad


# --- input domains ---------------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """How to sample one operand: ``sample(rng, shape) -> float64 array``. A domain that
    is not `differentiable` is passed to the op as a plain numpy array (a Constant)."""
    name: str
    sample: Callable
    differentiable: bool = True

    def __repr__(self):
        return self.name

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.name)


def _uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def _away_from_zero(lo, hi):
    """|x| in [lo, hi], either sign: clear of the kink of abs/relu and the pole of 1/x."""
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def _grid(points, jitter=0.3):
    """Values near the given points: two operands on disjoint grids never get close, so
    maximum/minimum/clip stay clear of their kinks without a joint constraint."""
    pts = np.asarray(points, dtype=float)
    return lambda rng, shape: rng.choice(pts, shape) + rng.uniform(-jitter, jitter, shape)


def _distinct(rng, shape):
    """All values distinct, at least 0.3 apart: max/min reductions have no ties."""
    size = int(np.prod(shape, dtype=np.int64))
    values = (rng.permutation(size) - size / 2) * 0.5 + rng.uniform(-0.1, 0.1, size)
    return values.reshape(shape)


def _distribution(rng, shape):
    """Positive rows summing to 1 along the last axis (labels for softmax cross-entropy)."""
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def _clip_x(rng, shape):
    """Clear of the clip bounds -1 and 1: |x| in [0, 0.7] or [1.3, 3]."""
    magnitude = np.where(rng.random(shape) < 0.5, rng.uniform(0, 0.7, shape),
                         rng.uniform(1.3, 3.0, shape))
    return rng.choice([-1.0, 1.0], shape) * magnitude


REAL = Domain("real", _uniform(-2, 2))
WIDE = Domain("wide", _uniform(-4, 4))
POSITIVE = Domain("positive", _uniform(0.5, 2.5))
NONZERO = Domain("nonzero", _away_from_zero(0.3, 2.0))
ABOVE_MINUS_ONE = Domain("above_-1", _uniform(-0.6, 2.0))
TAN_DOMAIN = Domain("tan_domain", _uniform(-1.2, 1.2))
EVEN = Domain("even_grid", _grid([-4, -2, 0, 2, 4]))
ODD = Domain("odd_grid", _grid([-3, -1, 1, 3]))
LOWER = Domain("lower_bound", _grid([-3, -1]))
UPPER = Domain("upper_bound", _grid([1, 3]))
DISTINCT = Domain("distinct", _distinct)
DISTRIBUTION = Domain("distribution", _distribution)
PROBABILITY = Domain("probability", _uniform(0.05, 0.95))
CLIP_X = Domain("clip_x", _clip_x)
SMALL_INTS = Domain("small_ints", lambda rng, shape: rng.integers(-2, 3, shape).astype(float))
ARRAY = Domain("numpy array", _uniform(-2, 2), differentiable=False)
BOOL = Domain("bool", lambda rng, shape: rng.random(shape) < 0.5, differentiable=False)


# --- shape strategies ------------------------------------------------------------------

MAX_SIDE = 3


def one_shape(min_dims=0, max_dims=3, min_side=1, max_side=MAX_SIDE):
    """A single operand's shape, as a 1-tuple of shapes."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side).map(lambda s: (s,))


def broadcast_shapes(n, min_dims=0, max_dims=3, max_side=MAX_SIDE):
    """`n` mutually broadcastable operand shapes (numpy rules)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=1,
        max_side=max_side).map(lambda b: tuple(b.input_shapes))


def same_shapes(n, min_dims=0, max_dims=3, min_side=1, max_side=MAX_SIDE):
    """`n` operands of one shape."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side).map(lambda s: (s,) * n)


@st.composite
def labelled_shapes(draw, subscripts, max_side=MAX_SIDE):
    """Operand shapes for einsum-style subscripts (``"ij,jk->ik"``): one random size per
    label; each operand with ``...`` gets a batch shape, mutually broadcastable with the
    other operands' batch shapes."""
    inputs = subscripts.split("->")[0].split(",")
    labels = sorted(set("".join(inputs).replace(".", "")))
    sizes = {label: draw(st.integers(1, max_side)) for label in labels}
    with_ellipsis = [k for k, part in enumerate(inputs) if "..." in part]
    batches = {}
    if with_ellipsis:
        drawn = draw(hnp.mutually_broadcastable_shapes(
            num_shapes=len(with_ellipsis), max_dims=2, min_side=1, max_side=max_side))
        batches = dict(zip(with_ellipsis, drawn.input_shapes))
    shapes = []
    for k, part in enumerate(inputs):
        before, _, after = part.partition("...")
        shapes.append(tuple(sizes[l] for l in before) + batches.get(k, ())
                      + tuple(sizes[l] for l in after))
    return tuple(shapes)


@st.composite
def squeezable_shape(draw, lead_one=False):
    """A shape with some size-1 axes inserted (the first one, if `lead_one`)."""
    shape = list(draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=2, max_side=MAX_SIDE)))
    for _ in range(draw(st.integers(1, 2))):
        shape.insert(draw(st.integers(0, len(shape))), 1)
    if lead_one:
        shape.insert(0, 1)
    return (tuple(shape),)


@st.composite
def concat_shapes(draw, n, axis):
    """`n` shapes equal except along `axis`."""
    min_dims = axis + 1 if axis >= 0 else -axis
    base = list(draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1,
                                      max_side=MAX_SIDE)))
    shapes = []
    for _ in range(n):
        base[axis] = draw(st.integers(1, MAX_SIDE))
        shapes.append(tuple(base))
    return tuple(shapes)


# --- the spec --------------------------------------------------------------------------

@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.

    fn(*operands, **kwargs) builds the node; differentiable operands are Variables,
    others numpy arrays. ref(*arrays, **kwargs) is numpy's answer. `kwargs` is a dict or
    a function of the operand shapes returning one.
    """
    name: str
    fn: Callable
    ref: Callable
    domains: Tuple[Domain, ...]
    shapes: Any
    kwargs: Any = None
    covers: Tuple[str, ...] = ()
    broadcasting: bool = False     # binary elementwise: incompatible shapes must raise
    differentiable: bool = True    # False for comparisons (boolean output, no gradient)

    @property
    def arity(self):
        return len(self.domains)

    def kwargs_for(self, shapes):
        if callable(self.kwargs):
            return self.kwargs(shapes)
        return dict(self.kwargs or {})

    def covered(self):
        return self.covers or (self.name.split("[")[0],)

    def __repr__(self):
        return f"OpSpec({self.name!r})"

    def _repr_pretty_(self, printer, cycle):  # hypothesis prints failing examples with this
        printer.text(repr(self))


SPECS = []


def spec(name, fn, ref, domains, shapes, **options):
    SPECS.append(OpSpec(name, fn, ref, tuple(domains), shapes, **options))


def unary(name, fn, ref, domain=REAL, shapes=None, **options):
    spec(name, fn, ref, [domain], shapes if shapes is not None else one_shape(), **options)


def binary(name, fn, ref, domains=(REAL, REAL), **options):
    spec(name, fn, ref, domains, broadcast_shapes(2), broadcasting=True, **options)


# --- numpy references (plain formulas) ------------------------------------------------

def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def np_softmax(x, axis=-1):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def np_sum_to(x, shape):
    """Sum `x` down to `shape`, which broadcasts to x.shape."""
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead)))
    kept = tuple(i for i, (s, t) in enumerate(zip(x.shape, shape)) if t == 1 and s != 1)
    return x.sum(axis=kept, keepdims=True)


def np_scatter_add(values, item, shape):
    out = np.zeros(shape)
    np.add.at(out, item, values)
    return out


# --- arithmetic ------------------------------------------------------------------------

binary("add", ad.add, np.add)
binary("subtract", ad.subtract, np.subtract)
binary("multiply", ad.multiply, np.multiply)
binary("divide", ad.divide, np.divide, domains=(REAL, NONZERO))
unary("negative", ad.negative, np.negative)
binary("power", ad.power, np.power, domains=(POSITIVE, REAL))
unary("power[int exponent, any sign base]", lambda x: ad.power(x, 3), lambda x: x ** 3)
unary("power[exponent 0.5]", lambda x: ad.power(x, 0.5), np.sqrt, POSITIVE)
unary("power[exponent -1]", lambda x: ad.power(x, -1), lambda x: 1.0 / x, NONZERO)
unary("power[array exponent]", lambda x: ad.power(x, np.array([1.5, -0.5, 2.0])),
      lambda x: x ** np.array([1.5, -0.5, 2.0]), POSITIVE, one_shape(min_dims=1).map(
          lambda s: (s[0][:-1] + (3,),)))
unary("power[variable base and exponent, same node]", lambda x: ad.power(x, x),
      lambda x: x ** x, POSITIVE, covers=("power",))
unary("square", ad.square, np.square)
unary("sqrt", ad.sqrt, np.sqrt, POSITIVE)
unary("abs", ad.abs, np.abs, NONZERO)
unary("exp", ad.exp, np.exp)
unary("expm1", ad.expm1, np.expm1)
unary("log", ad.log, np.log, POSITIVE)
unary("log1p", ad.log1p, np.log1p, ABOVE_MINUS_ONE)
unary("sin", ad.sin, np.sin, WIDE)
unary("cos", ad.cos, np.cos, WIDE)
unary("tan", ad.tan, np.tan, TAN_DOMAIN)
unary("arctan", ad.arctan, np.arctan, WIDE)
unary("sinh", ad.sinh, np.sinh)
unary("cosh", ad.cosh, np.cosh)
unary("tanh", ad.tanh, np.tanh, WIDE)
unary("sigmoid", ad.sigmoid, np_sigmoid, WIDE)
unary("relu", ad.relu, lambda x: np.maximum(x, 0), NONZERO)
unary("leaky_relu", ad.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), NONZERO)
unary("leaky_relu[negative_slope=0.2]", lambda x: ad.leaky_relu(x, negative_slope=0.2),
      lambda x: np.where(x > 0, x, 0.2 * x), NONZERO)
unary("softplus", ad.softplus, lambda x: np.log(1.0 + np.exp(x)), WIDE)
binary("maximum", ad.maximum, np.maximum, domains=(EVEN, ODD))
binary("maximum[b on the even grid]", ad.maximum, np.maximum, domains=(ODD, EVEN),
       covers=("maximum",))
binary("minimum", ad.minimum, np.minimum, domains=(EVEN, ODD))
binary("minimum[b on the even grid]", ad.minimum, np.minimum, domains=(ODD, EVEN),
       covers=("minimum",))
spec("where", lambda a, b, cond: ad.where(cond, a, b), lambda a, b, cond: np.where(cond, a, b),
     [REAL, REAL, BOOL], broadcast_shapes(3))
unary("where[condition node, sqrt in the branch not taken]",
      lambda x: ad.where(x > 0, ad.sqrt(x), 0.0),
      lambda x: np.where(x > 0, np.sqrt(np.abs(x)), 0.0), NONZERO, covers=("where", "sqrt"))
# the forward value only: its derivative is zero by definition, not numpy's (test_grad.py)
unary("stop_gradient", ad.stop_gradient, lambda x: x, differentiable=False)
unary("StopGradient", ad.StopGradient, lambda x: x, differentiable=False)
spec("clip", ad.clip, np.clip, [EVEN, LOWER, UPPER], broadcast_shapes(3))
unary("clip[scalar bounds]", lambda x: ad.clip(x, -1.0, 1.0), lambda x: np.clip(x, -1.0, 1.0),
      CLIP_X)
unary("clip[a_min only]", lambda x: ad.clip(x, -1.0, None), lambda x: np.maximum(x, -1.0),
      CLIP_X)
unary("clip[a_max only]", lambda x: ad.clip(x, a_max=1.0), lambda x: np.minimum(x, 1.0),
      CLIP_X)
unary("clip[numpy 2's min= and max=]", lambda x: ad.clip(x, min=-1.0, max=1.0),
      lambda x: np.clip(x, -1.0, 1.0), CLIP_X)

# --- reductions ------------------------------------------------------------------------

AXIS_VARIANTS = [  # (axis, keepdims, min_dims)
    (None, False, 0), (None, True, 1), (0, False, 1), (1, True, 2), (-1, False, 1),
    ((0, 2), False, 3), ((-1, 0), True, 2),
]


def _reduction(name, fn, ref, domain, variants=AXIS_VARIANTS):
    for axis, keepdims, min_dims in variants:
        unary(f"{name}[axis={axis},keepdims={keepdims}]",
              functools.partial(fn, axis=axis, keepdims=keepdims),
              functools.partial(ref, axis=axis, keepdims=keepdims), domain,
              one_shape(min_dims=min_dims))


_reduction("sum", ad.sum, np.sum, REAL)
_reduction("mean", ad.mean, np.mean, REAL)
_reduction("max", ad.max, np.max, DISTINCT)
_reduction("min", ad.min, np.min, DISTINCT)
_reduction("prod", ad.prod, np.prod, NONZERO)
_reduction("logsumexp", ad.logsumexp, np_logsumexp, REAL)
for _axis, _min_dims in [(-1, 1), (0, 1), (1, 2)]:
    unary(f"softmax[axis={_axis}]", functools.partial(ad.softmax, axis=_axis),
          functools.partial(np_softmax, axis=_axis), WIDE, one_shape(min_dims=_min_dims))
    unary(f"log_softmax[axis={_axis}]", functools.partial(ad.log_softmax, axis=_axis),
          functools.partial(np_log_softmax, axis=_axis), WIDE, one_shape(min_dims=_min_dims))
unary("softmax[default axis]", ad.softmax, np_softmax, WIDE, one_shape(min_dims=1))
unary("log_softmax[default axis]", ad.log_softmax, np_log_softmax, WIDE, one_shape(min_dims=1))

# --- shapes ----------------------------------------------------------------------------

unary("reshape[reversed shape]", lambda x, shape: ad.reshape(x, shape),
      lambda x, shape: np.reshape(x, shape), kwargs=lambda s: {"shape": s[0][::-1]})
unary("reshape[-1]", lambda x: ad.reshape(x, -1), lambda x: np.reshape(x, -1))
unary("reshape[(n, -1)]", lambda x, shape: ad.reshape(x, shape),
      lambda x, shape: np.reshape(x, shape), shapes=one_shape(min_dims=1),
      kwargs=lambda s: {"shape": (s[0][0], -1)})
unary("reshape[to 0-d]", lambda x: ad.reshape(x, ()), lambda x: np.reshape(x, ()),
      shapes=st.sampled_from([((),), ((1,),), ((1, 1),)]))
unary("transpose", ad.transpose, np.transpose)
unary("transpose[axes=(1, 2, 0)]", lambda x: ad.transpose(x, (1, 2, 0)),
      lambda x: np.transpose(x, (1, 2, 0)), shapes=one_shape(min_dims=3, max_dims=3))
unary("transpose[negative axes]", lambda x: ad.transpose(x, (-1, 0, 1)),
      lambda x: np.transpose(x, (-1, 0, 1)), shapes=one_shape(min_dims=3, max_dims=3))
unary("swapaxes[0, -1]", lambda x: ad.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1),
      shapes=one_shape(min_dims=1))
unary("swapaxes[1, 2]", lambda x: ad.swapaxes(x, 1, 2), lambda x: np.swapaxes(x, 1, 2),
      shapes=one_shape(min_dims=3))
for _axis in (0, -1, 1):
    unary(f"expand_dims[axis={_axis}]", functools.partial(ad.expand_dims, axis=_axis),
          functools.partial(np.expand_dims, axis=_axis), shapes=one_shape(min_dims=1))
unary("expand_dims[axis=(0, -1), several at once]",
      lambda x: ad.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)))
unary("squeeze", ad.squeeze, np.squeeze, shapes=squeezable_shape())
unary("squeeze[axis=0]", lambda x: ad.squeeze(x, axis=0), lambda x: np.squeeze(x, axis=0),
      shapes=squeezable_shape(lead_one=True))
unary("broadcast_to[new axis, size-1 axes grown]", lambda x, shape: ad.broadcast_to(x, shape),
      lambda x, shape: np.broadcast_to(x, shape),
      kwargs=lambda s: {"shape": (2,) + tuple(3 if d == 1 else d for d in s[0])})
unary("broadcast_to[same shape]", lambda x, shape: ad.broadcast_to(x, shape),
      lambda x, shape: np.broadcast_to(x, shape), kwargs=lambda s: {"shape": s[0]})
spec("concatenate[axis=0]", lambda a, b: ad.concatenate([a, b]),
     lambda a, b: np.concatenate([a, b]), [REAL, REAL], concat_shapes(2, 0))
spec("concatenate[axis=1, three operands]", lambda a, b, c: ad.concatenate([a, b, c], axis=1),
     lambda a, b, c: np.concatenate([a, b, c], axis=1), [REAL] * 3, concat_shapes(3, 1))
spec("concatenate[axis=-1]", lambda a, b: ad.concatenate([a, b], axis=-1),
     lambda a, b: np.concatenate([a, b], axis=-1), [REAL, REAL], concat_shapes(2, -1))
spec("concatenate[axis=None: flattened]", lambda a, b: ad.concatenate([a, b], axis=None),
     lambda a, b: np.concatenate([a, b], axis=None), [REAL, REAL],
     hnp.array_shapes(max_dims=3, max_side=MAX_SIDE).flatmap(
         lambda s: hnp.array_shapes(max_dims=2, max_side=MAX_SIDE).map(lambda t: (s, t))))
unary("concatenate[same node twice]", lambda a: ad.concatenate([a, a], axis=0),
      lambda a: np.concatenate([a, a], axis=0), shapes=one_shape(min_dims=1))
spec("stack[axis=0]", lambda a, b: ad.stack([a, b]), lambda a, b: np.stack([a, b]),
     [REAL, REAL], same_shapes(2))
spec("stack[axis=-1, three operands]", lambda a, b, c: ad.stack([a, b, c], axis=-1),
     lambda a, b, c: np.stack([a, b, c], axis=-1), [REAL] * 3, same_shapes(3))
unary("pad[width 1]", lambda x: ad.pad(x, 1), lambda x: np.pad(x, 1))
unary("pad[per-axis widths, constant 0.5]",
      lambda x: ad.pad(x, ((1, 0), (0, 2)), constant_values=0.5),
      lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=0.5),
      shapes=one_shape(min_dims=2, max_dims=2))
unary("pad[(before, after) for every axis]", lambda x: ad.pad(x, (2, 1)),
      lambda x: np.pad(x, (2, 1)), shapes=one_shape(min_dims=1))
unary("pad[mode='constant' positional, as numpy's third argument]",
      lambda x: ad.pad(x, 1, "constant", constant_values=2.0),
      lambda x: np.pad(x, 1, "constant", constant_values=2.0))
unary("zeros_like", ad.zeros_like, np.zeros_like)
unary("ones_like", ad.ones_like, np.ones_like)

# --- contractions ----------------------------------------------------------------------

EINSUMS = [
    "ij,jk->ik", "ij->ji", "ij->", "ij->j", "ii->i", "ii->", "iij->j", "ii,i->i", "i,i->",
    "i,j->ij", "ij,j->i", "ij,k->i", "ijk,ikl->ijl", "...ij,...jk->...ik", "i...->...",
    "ij...,j->i...", "ij,jk,kl->il", "i,ij,j->", "ij,jk", "ba",
]
for _subscripts in EINSUMS:
    _n = len(_subscripts.split("->")[0].split(","))
    spec(f"einsum[{_subscripts}]", functools.partial(ad.einsum, _subscripts),
         functools.partial(np.einsum, _subscripts), [REAL] * _n, labelled_shapes(_subscripts))
unary("einsum[ij,ij->i, same node twice]", lambda a: ad.einsum("ij,ij->i", a, a),
      lambda a: np.einsum("ij,ij->i", a, a), shapes=labelled_shapes("ij"))
unary("einsum[ij,jk->ik, a @ a]", lambda a: ad.einsum("ij,jk->ik", a, a),
      lambda a: np.einsum("ij,jk->ik", a, a), shapes=labelled_shapes("ii"))

MATMUL_SHAPES = hnp.mutually_broadcastable_shapes(
    signature=np.matmul.signature, max_dims=2, max_side=MAX_SIDE).map(
        lambda b: tuple(b.input_shapes))
spec("matmul", ad.matmul, np.matmul, [REAL, REAL], MATMUL_SHAPES)
spec("dot[1-D and 2-D]", ad.dot, np.dot, [REAL, REAL], hnp.mutually_broadcastable_shapes(
    signature=np.matmul.signature, max_dims=0, max_side=MAX_SIDE).map(
        lambda b: tuple(b.input_shapes)))
spec("dot[scalar operand]", ad.dot, np.dot, [REAL, REAL],
     one_shape(max_dims=2).map(lambda s: ((), s[0])))
spec("dot[N-D with 3-D]", ad.dot, np.dot, [REAL, REAL],
     st.one_of(labelled_shapes("ak,bkc"), labelled_shapes("k,bkc"), labelled_shapes("abk,kc")))
spec("tensordot[axes=2]", ad.tensordot, np.tensordot, [REAL, REAL], labelled_shapes("ajk,jkb"))
spec("tensordot[axes=1]", functools.partial(ad.tensordot, axes=1),
     functools.partial(np.tensordot, axes=1), [REAL, REAL], labelled_shapes("abk,kc"))
spec("tensordot[axes=0]", functools.partial(ad.tensordot, axes=0),
     functools.partial(np.tensordot, axes=0), [REAL, REAL], labelled_shapes("a,bc"))
spec("tensordot[axes=([0, 1], [1, 0])]",
     functools.partial(ad.tensordot, axes=([0, 1], [1, 0])),
     functools.partial(np.tensordot, axes=([0, 1], [1, 0])), [REAL, REAL],
     labelled_shapes("mnp,nmq"))
spec("outer", ad.outer, np.outer, [REAL, REAL],
     st.tuples(hnp.array_shapes(min_dims=0, max_dims=2, max_side=MAX_SIDE),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=MAX_SIDE)))
for _fname, _fn, _ref in [("trace", ad.trace, np.trace), ("diagonal", ad.diagonal, np.diagonal)]:
    for _kw, _labels in [({}, "ij"), ({}, "ii"), ({"offset": 1}, "ij"), ({"offset": -1}, "ij"),
                         ({"axis1": 1, "axis2": 2}, "ijk"),
                         ({"offset": 1, "axis1": 2, "axis2": 0}, "ijk")]:
        unary(f"{_fname}[{_labels} {_kw}]", functools.partial(_fn, **_kw),
              functools.partial(_ref, **_kw), shapes=labelled_shapes(_labels))

# --- fused losses ----------------------------------------------------------------------

spec("SoftmaxCEWithLogits", ad.SoftmaxCEWithLogits,
     lambda y, z: -np.sum(y * np_log_softmax(z, -1), axis=-1), [DISTRIBUTION, WIDE],
     same_shapes(2, min_dims=1))
spec("SoftmaxCEGrad", ad.SoftmaxCEGrad,
     lambda y, z, g: g[..., None] * (np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)
                                     * np.sum(y, axis=-1, keepdims=True) - y),
     [REAL, WIDE, REAL],
     same_shapes(1, min_dims=1).map(lambda shapes: shapes * 2 + (shapes[0][:-1],)))
spec("SigmoidCEWithLogits", ad.SigmoidCEWithLogits,
     lambda y, z: -(y * np.log(np_sigmoid(z)) + (1 - y) * np.log(1 - np_sigmoid(z))),
     [PROBABILITY, WIDE], broadcast_shapes(2))
binary("SquaredDifference", ad.SquaredDifference, lambda a, b: (a - b) ** 2)
unary("FrobeniusNorm", ad.FrobeniusNorm, lambda x: np.sqrt(np.sum(x * x)), NONZERO)

# --- op classes used directly ----------------------------------------------------------

spec("Add[three operands]", ad.Add, lambda a, b, c: a + b + c, [REAL] * 3, broadcast_shapes(3),
     covers=("Add",))
binary("Add", ad.Add, np.add)
binary("Subtract", ad.Subtract, np.subtract)
binary("Mul", ad.Mul, np.multiply)
binary("Divide", ad.Divide, np.divide, domains=(REAL, NONZERO))
binary("Pow", ad.Pow, np.power, domains=(POSITIVE, REAL))
for _cls, _ref, _domain in [
        (ad.Negate, np.negative, REAL), (ad.Recipr, np.reciprocal, NONZERO),
        (ad.Exp, np.exp, REAL), (ad.Expm1, np.expm1, REAL), (ad.Log, np.log, POSITIVE),
        (ad.Log1p, np.log1p, ABOVE_MINUS_ONE), (ad.Sqrt, np.sqrt, POSITIVE),
        (ad.Abs, np.abs, NONZERO), (ad.Sin, np.sin, WIDE), (ad.Cos, np.cos, WIDE),
        (ad.Tan, np.tan, TAN_DOMAIN), (ad.Tanh, np.tanh, WIDE), (ad.Sigmoid, np_sigmoid, WIDE),
        (ad.Arctan, np.arctan, WIDE), (ad.Sinh, np.sinh, REAL), (ad.Cosh, np.cosh, REAL),
        (ad.Softplus, lambda x: np.log(1.0 + np.exp(x)), WIDE),
        (ad.ReLU, lambda x: np.maximum(x, 0), NONZERO),
        (ad.Step, lambda x: (x > 0).astype(float), NONZERO),
        (ad.Sign, np.sign, NONZERO)]:
    unary(_cls.__name__, _cls, _ref, _domain)
unary("Cast[float64]", lambda x: ad.Cast(x, "float64"), lambda x: x.astype(np.float64))
spec("Where", lambda a, b, cond: ad.Where(cond, a, b), lambda a, b, cond: np.where(cond, a, b),
     [REAL, REAL, BOOL], broadcast_shapes(3))
for _fn, _ref in [(ad.less, np.less), (ad.less_equal, np.less_equal),
                  (ad.greater, np.greater), (ad.greater_equal, np.greater_equal),
                  (ad.equal, np.equal)]:
    binary(_fn.__name__, _fn, _ref, domains=(SMALL_INTS, SMALL_INTS), differentiable=False)
for _cls, _ref in [(ad.Less, np.less), (ad.LessEqual, np.less_equal),
                   (ad.Greater, np.greater), (ad.GreaterEqual, np.greater_equal),
                   (ad.Equal, np.equal)]:
    binary(_cls.__name__, _cls, _ref, domains=(SMALL_INTS, SMALL_INTS), differentiable=False)
spec("Einsum", functools.partial(ad.Einsum, "ij,jk->ik"), functools.partial(np.einsum, "ij,jk->ik"),
     [REAL, REAL], labelled_shapes("ij,jk->ik"))
spec("MatMul", ad.MatMul, np.matmul, [REAL, REAL], MATMUL_SHAPES)
unary("Transpose", lambda x: ad.Transpose(x, (2, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)),
      shapes=one_shape(min_dims=3, max_dims=3))
unary("Reshape", lambda x: ad.Reshape(x, (-1, 1)), lambda x: np.reshape(x, (-1, 1)))
unary("BroadcastTo", lambda x, shape: ad.BroadcastTo(x, shape),
      lambda x, shape: np.broadcast_to(x, shape),
      kwargs=lambda s: {"shape": (3,) + tuple(2 if d == 1 else d for d in s[0])})
unary("ReduceSumKeepDims", lambda x: ad.ReduceSumKeepDims(x, (0, -1)),
      lambda x: np.sum(x, axis=(0, -1), keepdims=True), shapes=one_shape(min_dims=2))
unary("ReduceSumToShape", lambda x, shape: ad.ReduceSumToShape(x, shape), np_sum_to,
      shapes=one_shape(min_dims=1),
      kwargs=lambda s: {"shape": tuple(1 if i % 2 else d for i, d in enumerate(s[0][1:]))})
unary("ReduceMax", lambda x: ad.ReduceMax(x, axis=-1), lambda x: np.max(x, axis=-1), DISTINCT,
      shapes=one_shape(min_dims=1))
unary("Mean", lambda x: ad.Mean(x, axis=(0, -1), keepdims=True),
      lambda x: np.mean(x, axis=(0, -1), keepdims=True), shapes=one_shape(min_dims=2))
unary("ExpandDims", lambda x: ad.ExpandDims(x, -1), lambda x: np.expand_dims(x, -1))
unary("Squeeze", lambda x: ad.Squeeze(x, 0), lambda x: np.squeeze(x, 0),
      shapes=squeezable_shape(lead_one=True))
unary("ReduceMin", lambda x: ad.ReduceMin(x, axis=(0, -1)),
      lambda x: np.min(x, axis=(0, -1)), DISTINCT, shapes=one_shape(min_dims=2))
unary("Prod", lambda x: ad.Prod(x, axis=0, keepdims=True),
      lambda x: np.prod(x, axis=0, keepdims=True), NONZERO, shapes=one_shape(min_dims=1))
unary("LogSumExp", lambda x: ad.LogSumExp(x, axis=(0,)), lambda x: np_logsumexp(x, axis=0),
      shapes=one_shape(min_dims=1))
unary("Softmax", lambda x: ad.Softmax(x, axis=0), lambda x: np_softmax(x, axis=0), WIDE,
      shapes=one_shape(min_dims=1))
unary("Slice", lambda x: ad.Slice(x, (slice(1, None), Ellipsis, slice(None, None, -1))),
      lambda x: x[1:, ..., ::-1], shapes=one_shape(min_dims=2))
spec("Concat", lambda a, b: ad.Concat(a, b, axis=1), lambda a, b: np.concatenate([a, b], 1),
     [REAL, REAL], concat_shapes(2, 1))
unary("Pad", lambda x: ad.Pad(x, ((0, 1), (2, 0)), constant_values=-1.5),
      lambda x: np.pad(x, ((0, 1), (2, 0)), constant_values=-1.5),
      shapes=one_shape(min_dims=2, max_dims=2))
unary("ScatterAdd[repeated integer index]",
      lambda v: ad.ScatterAdd(v, [0, 2, 0], (4,) + v.shape[1:]),
      lambda v: np_scatter_add(v, [0, 2, 0], (4,) + v.shape[1:]),
      shapes=one_shape(max_dims=2).map(lambda s: ((3,) + s[0][:1],)), covers=("ScatterAdd",))
unary("ScatterAdd[basic index]", lambda v: ad.ScatterAdd(v, (slice(1, 3),), (4,) + v.shape[1:]),
      lambda v: np_scatter_add(v, (slice(1, 3),), (4,) + v.shape[1:]),
      shapes=one_shape(max_dims=2).map(lambda s: ((2,) + s[0][:1],)), covers=("ScatterAdd",))

# --- operators and methods -------------------------------------------------------------

binary("a + b", lambda a, b: a + b, np.add, covers=("operator:+",))
binary("a - b", lambda a, b: a - b, np.subtract, covers=("operator:-",))
binary("a * b", lambda a, b: a * b, np.multiply, covers=("operator:*",))
binary("a / b", lambda a, b: a / b, np.divide, domains=(REAL, NONZERO), covers=("operator:/",))
binary("a ** b", lambda a, b: a ** b, np.power, domains=(POSITIVE, REAL), covers=("operator:**",))
unary("x ** 2", lambda x: x ** 2, lambda x: x ** 2, covers=("operator:**",))
spec("a @ b", lambda a, b: a @ b, np.matmul, [REAL, REAL], MATMUL_SHAPES, covers=("operator:@",))
unary("-x", lambda x: -x, np.negative, covers=("operator:neg",))
unary("+x", lambda x: +x, lambda x: +x, covers=("operator:pos",))
unary("abs(x)", lambda x: abs(x), np.abs, NONZERO, covers=("operator:abs",))
unary("1 + x", lambda x: 1 + x, lambda x: 1 + x, covers=("operator:r+",))
unary("3 - x", lambda x: 3 - x, lambda x: 3 - x, covers=("operator:r-",))
unary("2 * x", lambda x: 2 * x, lambda x: 2 * x, covers=("operator:r*",))
unary("1 / x", lambda x: 1 / x, lambda x: 1 / x, NONZERO, covers=("operator:r/",))
unary("2 ** x", lambda x: 2 ** x, lambda x: 2.0 ** x, covers=("operator:r**",))
unary("0.5 ** x", lambda x: 0.5 ** x, lambda x: 0.5 ** x, covers=("operator:r**",))
spec("array + node", lambda x, a: a + x, lambda x, a: a + x, [REAL, ARRAY],
     broadcast_shapes(2), covers=("operator:r+",))
spec("array - node", lambda x, a: a - x, lambda x, a: a - x, [REAL, ARRAY],
     broadcast_shapes(2), covers=("operator:r-",))
spec("array @ node", lambda x, a: a @ x, lambda x, a: a @ x,
     [REAL, ARRAY], MATMUL_SHAPES.map(lambda s: (s[1], s[0])), covers=("operator:r@",))
spec("node ** array", lambda x, a: x ** a, lambda x, a: x ** a,
     [POSITIVE, ARRAY], broadcast_shapes(2),
     covers=("operator:**",))
for _item, _text, _min_side in [
        ((slice(1, None), slice(None, None, 2)), "x[1:, ::2]", 1),
        ((Ellipsis, 0), "x[..., 0]", 1), (-1, "x[-1]", 1),
        ((None, slice(None), 1), "x[None, :, 1]", 2),
        ((slice(None), None), "x[:, None]", 1)]:
    unary(_text, lambda x, _item=_item: x[_item], lambda x, _item=_item: x[_item],
          shapes=one_shape(min_dims=2, min_side=_min_side), covers=("operator:[]",))
for _item, _text in [([0, 2, 0], "x[[0, 2, 0]]"),
                     (([0, 1, 1], [2, 0, 2]), "x[[0, 1, 1], [2, 0, 2]]"),
                     ((slice(None), [2, 0, 2]), "x[:, [2, 0, 2]]"),
                     ((np.array([[0, 1], [2, 2]]),), "x[[[0, 1], [2, 2]]]")]:
    unary(_text, lambda x, _item=_item: x[_item], lambda x, _item=_item: x[_item],
          shapes=one_shape(min_dims=2, min_side=3), covers=("operator:[int-array]",))
unary("x.T", lambda x: x.T, lambda x: x.T, covers=("operator:.T",))
unary("x.sum()", lambda x: x.sum(), np.sum, covers=("operator:.sum",))
unary("x.sum(axis=0, keepdims=True)", lambda x: x.sum(axis=0, keepdims=True),
      lambda x: x.sum(axis=0, keepdims=True), shapes=one_shape(min_dims=1),
      covers=("operator:.sum",))
unary("x.mean()", lambda x: x.mean(), np.mean, covers=("operator:.mean",))
unary("x.mean(axis=-1)", lambda x: x.mean(axis=-1), lambda x: x.mean(axis=-1),
      shapes=one_shape(min_dims=1), covers=("operator:.mean",))
unary("x.max(axis=0)", lambda x: x.max(axis=0), lambda x: x.max(axis=0), DISTINCT,
      shapes=one_shape(min_dims=1), covers=("operator:.max",))
unary("x.min()", lambda x: x.min(), lambda x: x.min(), DISTINCT, covers=("operator:.min",))
unary("x.reshape(-1)", lambda x: x.reshape(-1), lambda x: x.reshape(-1),
      covers=("operator:.reshape",))
unary("x.reshape(1, -1)", lambda x: x.reshape(1, -1), lambda x: x.reshape(1, -1),
      covers=("operator:.reshape",))
unary("x.reshape((-1, 1))", lambda x: x.reshape((-1, 1)), lambda x: x.reshape((-1, 1)),
      covers=("operator:.reshape",))
unary("x.transpose()", lambda x: x.transpose(), lambda x: x.transpose(),
      covers=("operator:.transpose",))
unary("x.transpose(1, 0)", lambda x: x.transpose(1, 0), lambda x: x.transpose(1, 0),
      shapes=one_shape(min_dims=2, max_dims=2), covers=("operator:.transpose",))
spec("x.dot(y)", lambda a, b: a.dot(b), lambda a, b: a.dot(b), [REAL, REAL],
     labelled_shapes("ij,jk"), covers=("operator:.dot",))
for _op, _ref in [("<", np.less), ("<=", np.less_equal), (">", np.greater),
                  (">=", np.greater_equal)]:
    binary(f"a {_op} b", lambda a, b, _op=_op: {"<": a < b, "<=": a <= b, ">": a > b,
                                                ">=": a >= b}[_op],
           _ref, domains=(SMALL_INTS, SMALL_INTS), differentiable=False,
           covers=(f"operator:{_op}",))


# --- what the table must cover ---------------------------------------------------------

#: docs/design.md, "Operations": the numpy-style functions.
DESIGN_FUNCTIONS = (
    "add subtract multiply divide negative power exp log log1p expm1 sqrt square abs sin cos "
    "tan tanh sigmoid relu leaky_relu softplus maximum minimum where clip sum mean max min prod "
    "logsumexp softmax log_softmax reshape transpose swapaxes expand_dims squeeze broadcast_to "
    "concatenate stack pad einsum matmul dot tensordot outer trace diagonal zeros_like "
    "ones_like").split()

#: docs/design.md, "Operations": the op classes.
DESIGN_CLASSES = (
    "Add Mul Negate Recipr Pow Exp Log Sin Cos Tanh Sigmoid ReLU Einsum MatMul Transpose "
    "Reshape Slice Concat Pad ReduceSumKeepDims ReduceSumToShape Softmax SoftmaxCEWithLogits "
    "SigmoidCEWithLogits SquaredDifference FrobeniusNorm").split()

#: docs/design.md, "Operations": operators, reflected forms, indexing and methods.
DESIGN_OPERATORS = list("operator:" + o for o in (
    "+ - * / ** @ neg r+ r- r* r/ r** r@ < <= > >= [] [int-array] .T .sum .mean .reshape"
).split())


def covered_names():
    """Every public name some spec exercises."""
    return {name for s in SPECS for name in s.covered()}
