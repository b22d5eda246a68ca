"""Graph-to-graph transformations: derivatives, batching and checkpointing."""
from .grad import grad
from .forward import jvp
from .checkpoint import checkpoint, Checkpoint
from .derivatives import derivative, jacobian, hessian, hvp
from .batch import batch
from .scan import scan, Scan

__all__ = ["grad", "jvp", "checkpoint", "Checkpoint", "derivative", "jacobian", "hessian",
           "hvp", "batch", "scan", "Scan"]
