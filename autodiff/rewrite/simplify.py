"""`simplify` and the rewriting done before a graph runs (`rewrite_for_evaluation`)."""
from ..core.derivation import records_derivation
from ..core.gcpause import gc_paused
from ..core.node import Node
from . import rules  # noqa: F401  (registers the rules)
from .engine import FAST, REAL, Rewriter, program_level, uniform_level
from .expand import expand_polynomials


@records_derivation(all_results=True)
def simplify(nodes, fast_math=False):
    """Equivalent nodes, smaller: equal subgraphs shared, constants folded, and algebraic
    identities applied (``x*1``, ``x+0``, ``x*0``, ``--x``, like terms collected, products
    of powers, nested einsums fused, polynomials in normal form).

    Takes a node or a list of nodes and returns the same structure, with unchanged shapes
    and dtypes. The identities are those of the real numbers: they hold for every finite
    input and never widen where an expression is defined, but they may regroup sums and
    products, so results can differ from the unsimplified graph's in the last bits
    (``x*0`` becomes 0 only where x cannot be inf or NaN). ``fast_math=True`` also applies
    identities that assume every value is finite and nonzero (``x/x -> 1``, ``x*0 -> 0``
    for any x, powers merged across signs), as a compiler's fast-math does. The same graph
    always simplifies to the same graph and the same bits.
    """
    return _rewrite(nodes, uniform_level(FAST if fast_math else REAL))


def rewrite_for_evaluation(nodes, fast_math=False):
    """The rewriting `ad.function` and `ad.evaluate` do before running `nodes`: what the
    user wrote is computed exactly as written (only rewrites that change no bit: equal
    subgraphs shared, constants folded, ``x*1``, ``--x``), and derivative parts are
    simplified as `simplify` does. With `fast_math`, `simplify(nodes, fast_math=True)`."""
    return _rewrite(nodes, program_level(fast_math))


def _rewrite(nodes, level_of):
    single = isinstance(nodes, Node)
    outputs = [nodes] if single else list(nodes)
    with gc_paused():
        rewriter = Rewriter(["canonical", "algebra"], level_of)
        simplified = expand_polynomials(rewriter.run(outputs), rewriter)
        lowered = Rewriter(["lower"], level_of).run(simplified)
    return lowered[0] if single else lowered
