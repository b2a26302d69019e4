"""Methods: losses, mixing rules, samplers and schedules, composed by name from params."""

from ltgrid.methods.compose import Method, build_method, validate_method

__all__ = ["Method", "build_method", "validate_method"]
