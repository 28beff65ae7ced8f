"""recdenoise: train recommenders robustly on noisy implicit feedback and LLM-augmented graphs."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

from .errors import RecDenoiseError  # noqa: E402
from .data import Interactions, Split  # noqa: E402

__all__ = ["__version__", "RecDenoiseError", "Interactions", "Split"]
