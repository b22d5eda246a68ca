"""Graph-to-graph transformations: derivatives, batching and checkpointing."""
from .grad import grad
from .forward import jvp
from .checkpoint import checkpoint, Checkpoint
from .derivatives import derivative, jacobian, hessian, hvp
from .batch import batch

__all__ = ["grad", "jvp", "checkpoint", "Checkpoint", "derivative", "jacobian", "hessian",
           "hvp", "batch"]
