"""`Linear` (``y = x W^T + b``) and `Identity`, with PyTorch's names, shapes and init."""
import math

import numpy as np

from ...core.node import Variable
from ...ops.functions import einsum
from .. import init
from ..module import Module


class Linear(Module):
    """Affine map ``y = x @ weight.T + bias``, as PyTorch's ``nn.Linear``.

    `weight` has shape ``(out_features, in_features)`` and `bias` ``(out_features,)``, as
    in PyTorch, and both start from U(-1/sqrt(in_features), 1/sqrt(in_features))
    (PyTorch's ``kaiming_uniform_(a=sqrt(5))``). The input has `in_features` on its last
    axis and any leading axes.

    >>> layer = nn.Linear(3, 2, rng=0)
    >>> layer.weight, layer.bias
    (<Variable weight shape=(2, 3) float64>, <Variable bias shape=(2,) float64>)
    >>> layer(ad.Variable(np.ones((5, 3)))).shape
    (5, 2)

    Args:
        in_features: size of the input's last axis.
        out_features: size of the output's last axis.
        bias: whether the layer adds a learned bias.
        rng: a ``numpy.random.Generator`` or an integer seed that makes the initial
            values reproducible; None draws fresh ones.
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=None,
                 checkpoint=False):
        super().__init__(checkpoint=checkpoint)
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = np.dtype(dtype or np.float64)
        self.weight = Variable(np.zeros((self.out_features, self.in_features), dtype))
        self.bias = Variable(np.zeros(self.out_features, dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw new initial values (PyTorch's default initialisation)."""
        rng = init.generator(rng)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound, rng)

    def forward(self, x):
        """x (..., in_features) -> (..., out_features)."""
        # one einsum node: a BLAS matmul against the transposed view of the weight
        y = einsum("...i,oi->...o", x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (a placeholder layer, as ``torch.nn.Identity``)."""

    def forward(self, x):
        """x -> x."""
        return x
