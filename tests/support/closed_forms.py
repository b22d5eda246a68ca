"""Closed forms the tests compare derivatives against."""
import numpy as np


def tanh_polynomials(n):
    """[P_1, ..., P_n] with d^k tanh(x) = P_k(tanh x): P_0(t) = t, P_{k+1} = P_k'(t) (1 - t^2)."""
    p, out = np.polynomial.Polynomial([0, 1]), []
    for _ in range(n):
        p = p.deriv() * np.polynomial.Polynomial([1, 0, -1])
        out.append(p)
    return out
