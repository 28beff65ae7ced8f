"""Samplers decide which (user, positive, negative) triples are optimised."""

from .base import PairScorer, Sampler, TripletBatch
from .negative import NegativeSampler
from .uniform import UniformSampler

__all__ = ["Sampler", "TripletBatch", "PairScorer", "NegativeSampler", "UniformSampler"]
