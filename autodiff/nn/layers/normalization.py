"""`LayerNorm`: normalisation over the trailing axes of each example, as in PyTorch."""
import numpy as np

from ...core.node import Variable
from ...ops.functions import mean, sqrt
from ..module import Module


class LayerNorm(Module):
    """Normalisation over the trailing axes of each example, as PyTorch's ``nn.LayerNorm``.

    Over the last ``len(normalized_shape)`` axes: ``y = (x - mean) / sqrt(var + eps) *
    weight + bias``, with the biased variance (divided by the count, not count - 1).
    `weight` starts at ones and `bias` at zeros, both of shape `normalized_shape`.

    Args:
        normalized_shape: an int or a shape: the trailing axes to normalise over.
        eps: added to the variance, for stability.
        elementwise_affine: whether the layer has a learned `weight` (and `bias`).
        bias: whether the layer has a learned `bias` (with `elementwise_affine`).
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *,
                 dtype=None, checkpoint=False):
        super().__init__(checkpoint=checkpoint)
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = np.dtype(dtype or np.float64)
        self.weight = Variable(np.ones(self.normalized_shape, dtype)) if elementwise_affine \
            else None
        self.bias = Variable(np.zeros(self.normalized_shape, dtype)) \
            if elementwise_affine and bias else None

    def reset_parameters(self, rng=None):
        """Weight back to ones, bias to zeros (`rng` is unused; accepted for uniformity)."""
        if self.weight is not None:
            self.weight.value = np.ones(self.weight.shape)
        if self.bias is not None:
            self.bias.value = np.zeros(self.bias.shape)

    def forward(self, x):
        """``x (..., *normalized_shape)`` -> the same shape."""
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm: input {x.describe()} must end with the normalized "
                             f"shape {self.normalized_shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centred = x - mean(x, axis=axes, keepdims=True)
        variance = mean(centred * centred, axis=axes, keepdims=True)
        y = centred / sqrt(variance + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
