"""Whether a node's value is finite wherever its inputs' values are.

Ops declare it with their `finite` trait (bounded, or polynomial growth: sin, tanh, +,
*). A node is *always finite* when its op is and all its operands are, down to the
inputs (Variables and other leaves: finite reals, as everywhere in the algebra of
rewrites) and Constants without inf or NaN. A strong-zero product whose other factor is
always finite gives the same bits as a plain product (0 times a finite number is 0):
`grad` builds plain products there, and the rewrites drop strong zeros.
"""
import numpy as np

from .node import Constant


def always_finite(node, memo):
    """Whether `node` is always finite (see the module docstring). `memo`: {id(node):
    answer}, shared between calls on one graph (the caller keeps its nodes alive); the
    walk is iterative and visits each node once per memo, so any depth works."""
    known = memo.get(id(node))
    if known is not None:
        return known
    stack = [node]
    while stack:
        n = stack[-1]
        if id(n) in memo:
            stack.pop()
            continue
        pending = [c for c in n.children if id(c) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if isinstance(n, Constant):
            memo[id(n)] = bool(np.all(np.isfinite(n.value))) if n.dtype.kind in "fc" else True
        elif not n.children:
            memo[id(n)] = True  # an input (a Variable, a random draw): a finite real
        else:
            memo[id(n)] = bool(n.finite) and all(memo[id(c)] for c in n.children)
    return memo[id(node)]
