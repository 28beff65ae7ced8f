"""Offline LLM augmentation (LLMRec, WSDM 2024) as a dependable, resumable job.

- :mod:`.client`: OpenAI-SDK client with bounded concurrency, retries, budget, accounting;
- :mod:`.cache`: fsynced append-only answer cache (kill -9 safe);
- :mod:`.prompts` / :mod:`.parsing`: versioned prompts and strict answer validation;
- :mod:`.runner` / :mod:`.jobs` / :mod:`.augment`: the job; :mod:`.estimate`: its dry run;
  :mod:`.augment_dir`: the output folder's format (writer and reader);
- :mod:`.features`: text embeddings (local MiniLM or the embeddings endpoint);
- :mod:`.candidates`: per-user top-k unseen candidates; :mod:`.mock_server`: loopback test server.
"""

from __future__ import annotations

from .augment import AugmentConfig, AugmentResult, augment
from .cache import JsonlCache
from .candidates import base_candidates, candidates_from_scores, popularity_candidates
from .client import LLMClient, LLMConfig
from .estimate import DryRunEstimate, estimate
from .mock_server import MockOpenAIServer, serve_mock

__all__ = [
    "AugmentConfig",
    "AugmentResult",
    "DryRunEstimate",
    "augment",
    "estimate",
    "JsonlCache",
    "LLMClient",
    "LLMConfig",
    "MockOpenAIServer",
    "serve_mock",
    "base_candidates",
    "candidates_from_scores",
    "popularity_candidates",
]
