"""Samplers decide which (user, positive, negative) triples are optimised."""

from ..types import TripletBatch
from .base import PairScorer, Sampler
from .negative import NegativeSampler
from .pld import PLDOptions, PLDSampler, PLDSelection
from .uniform import UniformSampler

__all__ = ["Sampler", "TripletBatch", "PairScorer", "NegativeSampler", "UniformSampler", "PLDSampler", "PLDOptions", "PLDSelection"]
