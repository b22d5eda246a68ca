"""Activation functions as modules (PyTorch's names and parameters), for `Sequential`
and for models that list their layers. Each is the matching ``ad`` function."""
import math

from ...ops.functions import (where, relu, tanh, sigmoid, softplus, leaky_relu, expm1,
                              softmax, log_softmax)
from ..module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        """Elementwise max(x, 0)."""
        return relu(x)


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        """Elementwise leaky ReLU."""
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        """Elementwise tanh."""
        return tanh(x)


class Sigmoid(Module):
    """Logistic sigmoid 1 / (1 + e**-x)."""

    def forward(self, x):
        """Elementwise sigmoid."""
        return sigmoid(x)


class Softplus(Module):
    """``log(1 + e**(beta x)) / beta``, and x itself where ``beta * x > threshold``,
    exactly as PyTorch (for numerical agreement there too)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        """Elementwise softplus."""
        bx = x * self.beta if self.beta != 1.0 else x
        soft = softplus(bx)
        if self.beta != 1.0:
            soft = soft * (1.0 / self.beta)
        return where(bx > self.threshold, x, soft)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """x where x > 0, else ``alpha * (e**x - 1)``."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        """Elementwise ELU."""
        return where(x > 0, x, self.alpha * expm1(x))

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x):
        """Elementwise SiLU."""
        return x * sigmoid(x)


class GELU(Module):
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``: PyTorch's tanh approximation.

    Only the tanh approximation is available (the exact form needs erf, which autodiff
    has no op for), so ``approximate="tanh"`` must be given explicitly.
    """

    def __init__(self, approximate):
        super().__init__()
        if approximate != "tanh":
            raise NotImplementedError("GELU: only approximate='tanh' is available "
                                      "(the exact GELU needs an erf op)")
        self.approximate = approximate

    def forward(self, x):
        """Elementwise GELU (tanh approximation)."""
        return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along `dim` (default -1)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        """Softmax along `dim`."""
        return softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along `dim` (default -1)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        """Log-softmax along `dim`."""
        return log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
