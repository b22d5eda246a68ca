"""`Dropout`: zero each element with probability p in training mode, identity in eval.

The mask is drawn when the graph is *built* and enters it as a Constant, so each rebuilt
graph gets a fresh mask; a graph compiled once with ``ad.function`` keeps the mask it was
built with (rebuild the graph, or call the model in eval mode, for inference). Inside a
checkpointed module the mask is drawn through `randomness.draw`, so the recomputation for
the gradient uses the same mask as the forward value.
"""
import numpy as np

from ...core.node import Constant
from .. import init
from ..module import Module
from ..randomness import draw


class Dropout(Module):
    """Zero each element with probability `p` in training mode, as PyTorch's ``nn.Dropout``.

    In training mode the output is ``x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``
    (all zeros when p = 1); in evaluation mode (`Module.eval`) it is x unchanged. The mask
    is drawn when the graph is *built* and enters it as a constant, so each rebuilt graph
    gets a fresh mask, and a graph compiled once with `autodiff.function` keeps the mask
    it was built with (rebuild the graph for a new one, or call the model in evaluation
    mode for inference).

    Args:
        p: the probability of zeroing an element, in [0, 1].
        rng: a ``numpy.random.Generator`` or an integer seed that makes the masks
            reproducible.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self._rng = init.generator(rng)

    def forward(self, x):
        """x -> x with dropped elements zeroed and the rest scaled by 1 / (1 - p)."""
        mask = draw(lambda: self._mask(x.shape, x.dtype))
        return x if mask is None else x * Constant(mask)

    def _mask(self, shape, dtype):
        """The scaled mask for one build, or None when dropout does nothing."""
        if not self.training or self.p == 0.0:
            return None
        if self.p == 1.0:
            return np.zeros(shape, dtype=dtype)
        keep = self._rng.random(shape) >= self.p
        return (keep / (1.0 - self.p)).astype(dtype)

    def extra_repr(self):
        return f"p={self.p}"
