"""Graph-to-graph transformations: derivatives and checkpointing."""
from .grad import grad
from .checkpoint import checkpoint, Checkpoint
