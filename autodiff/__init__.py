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
from .ops.functions import (add, subtract, multiply, divide, negative, power, exp, log, log1p,
                            expm1, sqrt, square, abs, sin, cos, tan, tanh, sigmoid, relu,
                            leaky_relu, softplus, maximum, minimum, where, clip, sum, mean, max,
                            min, prod, logsumexp, softmax, log_softmax, reshape, transpose,
                            swapaxes, expand_dims, squeeze, broadcast_to, concatenate, stack, pad,
                            einsum, matmul, dot, tensordot, outer, trace, diagonal, zeros_like,
                            ones_like, index, stop_gradient)
from .runtime import evaluate, function, Function, EvaluationError
from .transforms import grad, checkpoint, Checkpoint, jvp, derivative, jacobian, hessian, hvp
from .rewrite import simplify
from .testing import check_grad, GradientCheckError
from .viz import to_dot, plot_comp_graph, pretty, print_graph, GraphTooLargeError
from . import nn
from .nn import Module

__version__ = "0.1.0"
