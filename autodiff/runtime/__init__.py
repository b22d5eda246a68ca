"""Running graphs: one-off evaluation and compiled functions."""
from .evaluate import evaluate, function, Function, EvaluationError
