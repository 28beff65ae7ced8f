"""Per-example losses as pure functions (no reduction), so denoising wrappers can reweight
or truncate them before averaging. They live in :mod:`recdenoise.scoring` (samplers score
candidate pools with them too); this module is their home in the losses package."""

from ..scoring import LOSSES, bce_loss, bpr_loss, l2_penalty

__all__ = ["bpr_loss", "bce_loss", "l2_penalty", "LOSSES"]
