"""Running graphs: one-off evaluation and compiled functions (numpy, or another backend)."""
from .function import Function, EvaluationError
from .backends import function
from .evaluation import evaluate, clear_plan_cache

__all__ = ["function", "Function", "EvaluationError", "evaluate", "clear_plan_cache"]
