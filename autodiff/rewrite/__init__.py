"""Graph rewriting: sharing equal subgraphs, folding constants, algebraic identities."""
from .engine import simplify, rule, Rewriter
from . import rules  # noqa: F401  (registers the rules)
