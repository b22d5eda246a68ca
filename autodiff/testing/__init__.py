"""Numerical checks for derivatives."""
from .check import check_grad, numeric_directional_derivative, GradientCheckError

__all__ = ["check_grad", "numeric_directional_derivative", "GradientCheckError"]
