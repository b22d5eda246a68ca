"""Numerical checks of derivatives against finite differences.

`check_grad` checks every order up to `order` along random directions, the way HIPS
autograd's ``check_grads`` does: with a random cotangent u, f = sum(u * y) is a scalar;
the symbolic directional derivative grad(f) . v is compared with a finite difference of f
along v. The directional derivative is itself a graph, so the next order repeats the check
on it with fresh directions: order k compares a k-th derivative with a finite difference of
the symbolic (k-1)-th one.
"""
import numpy as np

from ..core.node import Node, Variable, Constant
from ..runtime import evaluate
from ..transforms.grad import grad


class GradientCheckError(AssertionError):
    """A symbolic derivative disagrees with finite differences."""


def numeric_directional_derivative(f, wrt, directions, eps=1e-4):
    """d/dt f(wrt + t * directions) at t = 0, by a fourth-order central difference.

    `f` is a scalar node; `wrt` are Variables; their values are restored afterwards.
    """
    originals = [w.value for w in wrt]
    try:
        def f_at(t):
            for w, x0, v in zip(wrt, originals, directions):
                w.value = x0 + t * v
            return float(evaluate(f))
        return (-f_at(2 * eps) + 8 * f_at(eps) - 8 * f_at(-eps) + f_at(-2 * eps)) / (12 * eps)
    finally:
        for w, x0 in zip(wrt, originals):
            w.value = x0


def check_grad(y, wrt, order=2, eps=1e-4, rtol=1e-5, atol=1e-7, seed=0):
    """Check derivatives of `y` wrt the Variables `wrt`, orders 1..`order`.

    Raises GradientCheckError with the worst mismatch; returns the list of
    (order, symbolic, numeric) values checked otherwise.
    """
    if isinstance(wrt, Node):
        wrt = [wrt]
    for w in wrt:
        if not isinstance(w, Variable):
            raise TypeError(f"check_grad perturbs values, so wrt must be Variables; got {w!r}")
    rng = np.random.default_rng(seed)
    f = (y * Constant(rng.standard_normal(y.shape).astype(y.dtype))).sum()
    report, failures = [], []
    for k in range(1, order + 1):
        directions = [rng.standard_normal(w.shape) for w in wrt]
        grads = grad(f, list(wrt))
        df = sum(((g * Constant(v.astype(g.dtype))).sum() for g, v in zip(grads, directions)),
                 Constant(np.zeros((), dtype=y.dtype)))
        symbolic = float(evaluate(df))
        numeric = numeric_directional_derivative(f, wrt, directions, eps)
        report.append((k, symbolic, numeric))
        error = abs(symbolic - numeric)
        if not error <= atol + rtol * max(abs(symbolic), abs(numeric)):
            failures.append((error, k, symbolic, numeric))
        f = df
    if failures:
        error, k, symbolic, numeric = max(failures)
        raise GradientCheckError(
            f"derivative of order {k} of {y!r} disagrees with finite differences: symbolic "
            f"{symbolic!r}, numeric {numeric!r} (abs error {error:.3g}); "
            f"{len(failures)} of {order} orders failed")
    return report
