"""Graph-to-graph transformations: derivatives and checkpointing."""
from .grad import grad
from .checkpoint import checkpoint, Checkpoint
from .derivatives import jvp, derivative, jacobian, hessian, hvp
from .batch import batch
