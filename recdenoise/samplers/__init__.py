"""Samplers decide which (user, positive, negative) triples are optimised."""

from .base import PairScorer, Sampler, TripletBatch
from .negative import NegativeSampler
from .pld import PLDSampler, PLDSelection
from .uniform import UniformSampler

__all__ = ["Sampler", "TripletBatch", "PairScorer", "NegativeSampler", "UniformSampler", "PLDSampler", "PLDSelection"]
