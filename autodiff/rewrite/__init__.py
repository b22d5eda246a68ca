"""Graph rewriting: sharing equal subgraphs, folding constants, algebraic identities.

`simplify` is the public entry; `rule` registers a rewrite (see engine.py for levels).
"""
from .engine import EXACT, REAL, FAST, rule, Rewriter
from .simplify import simplify, rewrite_for_evaluation, rewrite_with_order

__all__ = ["EXACT", "REAL", "FAST", "rule", "Rewriter", "simplify", "rewrite_for_evaluation",
           "rewrite_with_order"]
