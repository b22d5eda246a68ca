"""`Flatten`: merge a range of axes into one, as ``torch.nn.Flatten``."""
from ...ops.functions import reshape
from ..module import Module


class Flatten(Module):
    """Axes `start_dim` to `end_dim` (inclusive) merged into one, as ``nn.Flatten``.

    Args:
        start_dim: the first axis to merge (default 1, after the batch axis).
        end_dim: the last axis to merge (default -1, the last axis).
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        """``(..., d_start, ..., d_end, ...)`` -> ``(..., d_start * ... * d_end, ...)``."""
        if x.ndim == 0:
            return reshape(x, (1,))
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for input {x.describe()}")
        merged = 1
        for d in x.shape[start:end + 1]:
            merged *= d
        lead = x.shape[:start]
        if len(lead) == 1 and merged:  # the batch axis as -1: the graph takes other batches
            lead = (-1,)
        return reshape(x, lead + (merged,) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
