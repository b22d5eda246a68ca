"""Running graphs: one-off evaluation and compiled functions."""
from .function import function, Function, EvaluationError
from .evaluation import evaluate, clear_plan_cache

__all__ = ["function", "Function", "EvaluationError", "evaluate", "clear_plan_cache"]
