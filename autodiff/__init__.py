"""autodiff: graph-to-graph symbolic differentiation over numpy arrays.

Build expressions from `Variable`s with operators and numpy-style functions; call a node
to evaluate it; `grad` returns derivative graphs, which can be differentiated again.

>>> import autodiff as ad
>>> x = ad.Variable(3.0, name="x")
>>> y = x * x + ad.exp(x)
>>> float(ad.grad(y, [x])[0]())  # 2x + e**x
26.085536923187668
"""
from .core import Node, Variable, Constant, topo_sort, graph_size
from .core.context import scope
from .ops import *  # noqa: F401,F403  (the op classes)
from .ops import __all__ as _op_classes
from .ops.functions import *  # noqa: F401,F403  (the numpy-style functions)
from .ops.functions import __all__ as _functions
from .runtime import evaluate, function, Function, EvaluationError
from .transforms import (grad, jvp, derivative, jacobian, hessian, hvp, checkpoint, Checkpoint,
                         scan, Scan)
from .rewrite import simplify
from .testing import check_grad, GradientCheckError
from .viz import (to_dot, plot_comp_graph, pretty, format_graph, print_graph,
                  GraphTooLargeError, RenderTimeout)
from . import nn
from .nn import Module

__version__ = "0.1.0"

__all__ = [
    # graph and evaluation
    "Node", "Variable", "Constant", "evaluate", "function", "Function", "EvaluationError",
    "topo_sort", "graph_size", "scope",
    # derivatives and rewriting
    "grad", "jvp", "derivative", "jacobian", "hessian", "hvp", "checkpoint", "Checkpoint",
    "scan", "Scan",
    "simplify", "check_grad", "GradientCheckError",
    # pictures and text
    "to_dot", "plot_comp_graph", "pretty", "format_graph", "print_graph", "GraphTooLargeError",
    "RenderTimeout",
    # models
    "nn", "Module",
    # operations
    *_functions, *_op_classes,
]


def __dir__():
    """``dir(autodiff)`` lists the public API (the subpackages stay importable)."""
    return sorted(__all__ + ["__version__"])
