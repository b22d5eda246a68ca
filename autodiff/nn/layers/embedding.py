"""`Embedding`: a lookup table of rows, gathered by integer-array indexing."""
import numpy as np

from ...core.node import Node, Variable
from ...ops.functions import stop_gradient, where
from .. import init
from ..module import Module


class Embedding(Module):
    """A lookup table of rows, ``weight[indices]``, as PyTorch's ``nn.Embedding``.

    `weight` has shape ``(num_embeddings, embedding_dim)``, initialised N(0, 1) with the
    `padding_idx` row zeroed, as in PyTorch. Indices are an integer numpy array (or list)
    of any shape; the result has shape ``indices.shape + (embedding_dim,)``. Its gradient
    adds each output row's cotangent into the row it came from (repeated indices
    accumulate). The `padding_idx` row receives no gradient, as in PyTorch.

    Args:
        num_embeddings: number of rows (the size of the vocabulary).
        embedding_dim: size of each row.
        padding_idx: a row that starts at zero and gets no gradient, or None.
        rng: a ``numpy.random.Generator`` or an integer seed for the initial values.
        dtype: dtype of the weight (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, rng=None,
                 dtype=None, checkpoint=False):
        super().__init__(checkpoint=checkpoint)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{self.num_embeddings} embeddings")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dtype = np.dtype(dtype or np.float64)
        self.weight = Variable(np.zeros((self.num_embeddings, self.embedding_dim), dtype))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw new initial values: N(0, 1), the padding row zero."""
        init.normal_(self.weight, rng=rng)
        if self.padding_idx is not None:
            self.weight.value[self.padding_idx] = 0

    def forward(self, indices):
        """Integer indices of any shape -> rows, shape ``indices.shape + (embedding_dim,)``."""
        if isinstance(indices, Node):
            raise TypeError("Embedding: indices must be an integer numpy array, not a node "
                            "(indices select rows when the graph is built)")
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < -self.num_embeddings
                             or indices.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: indices out of range [0, {self.num_embeddings})")
        rows = self.weight[indices]
        if self.padding_idx is None:
            return rows
        padded = (indices % self.num_embeddings == self.padding_idx)[..., None]
        if not padded.any():
            return rows
        # same values either way; the padding positions pass no gradient to the weight
        return where(padded, stop_gradient(rows), rows)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
