"""Data: interactions (users-as-rows CSR + id maps + side info), readers, splits, noise."""

from .interactions import Interactions, Split

__all__ = ["Interactions", "Split"]
