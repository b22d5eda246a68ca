"""Running graphs: one-off evaluation and compiled functions."""
from .function import function, Function, EvaluationError
from .evaluate import evaluate, clear_plan_cache
