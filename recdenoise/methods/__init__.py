"""Training methods by name: the registry and every built-in method, registered on import.

``build_method(config, train, model)`` is the one build path (CLI, experiments, benchmark
grid, own loops); ``METHODS`` lists what is registered. Adding a method is one module with an
options dataclass and a builder decorated with :func:`register_method`, plus one import line
below (see ``docs/extending.md``).
"""

from .registry import METHODS, MethodContext, MethodParts, MethodSpec, build_method, get_method, method_options, register_method

# Built-in methods register themselves when their module is imported: import them all here.
from . import builtin, llmrec, pruning  # noqa: E402,F401  isort: skip

__all__ = ["METHODS", "MethodContext", "MethodParts", "MethodSpec", "build_method", "get_method", "method_options", "register_method"]
