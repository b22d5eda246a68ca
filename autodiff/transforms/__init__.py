"""Graph-to-graph transformations: derivatives."""
from .grad import grad
