"""Text features: per-text embedding cache, alignment to contiguous ids, local MiniLM."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from recdenoise.llm.cache import JsonlCache
from recdenoise.llm.features import CachedEmbedder, LocalSentenceEmbedder, attributes_text, embed_aligned
from recdenoise.llm.synthetic import synthetic_movies
from recdenoise.llm.text import item_records, item_text, user_histories


class CountingEmbedder:
    name = "fake-3d"

    def __init__(self):
        self.seen: list[str] = []

    async def embed(self, texts):
        self.seen += list(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_cached_embedder_embeds_each_text_once(tmp_path):
    fake = CountingEmbedder()
    with JsonlCache(tmp_path / "e.jsonl") as cache:
        emb = CachedEmbedder(fake, cache, batch_size=2)
        out, mask = asyncio.run(embed_aligned(emb, np.array([3, 0, 1]), ["abc", "a", "abc"], 5))
    assert fake.seen == ["abc", "a"]
    assert out.shape == (5, 3) and mask.tolist() == [True, True, False, True, False]
    np.testing.assert_array_equal(out[3], [3, 1, 1])
    np.testing.assert_array_equal(out[2], 0)
    with JsonlCache(tmp_path / "e.jsonl") as cache:  # a rerun reads vectors back bit-exactly
        again = asyncio.run(CachedEmbedder(CountingEmbedder(), cache).embed(["abc"]))
    np.testing.assert_array_equal(again[0], out[3])


def test_item_text_is_tolerant_of_columns():
    train = synthetic_movies(4, 6, per_user=2)
    records = item_records(train)
    assert set(records[0]) == {"title", "genres", "year"} and isinstance(records[0]["genres"], list)
    assert item_text(records[0]).startswith(records[0]["title"])
    bare = train.replace(item_info=None)
    assert item_records(bare)[2] == {"item_id": "m2"}
    import pandas as pd

    odd = train.replace(
        item_info=pd.DataFrame({"name": ["x"] * 6, "release_date": ["01-Jan-1995"] * 6, "genres": [None] * 6})
    )
    assert item_records(odd)[0] == {"title": "x", "year": 1995}
    hist = user_histories(train, max_history=1)
    assert len(hist) == 4 and all(len(h) == 1 for h in hist)
    assert attributes_text({"director": "A", "liked_genres": ["x", "y"]}) == "director: A; liked genres: x, y"


@pytest.mark.slow
def test_local_minilm_embeddings(tmp_path, capfd):
    # Measured on the 2-core dev box: importing sentence-transformers ~8 s, model load ~0.3 s,
    # hence `slow`.
    start = time.perf_counter()
    embedder = LocalSentenceEmbedder(device="cpu")
    with JsonlCache(tmp_path / "e.jsonl") as cache:
        vecs = asyncio.run(
            CachedEmbedder(embedder, cache).embed(["a space opera", "a romantic comedy", "a space opera"])
        )
    elapsed = time.perf_counter() - start
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(vecs[0], vecs[2])
    assert elapsed < 120
    # loading the model draws no progress bar of its own, and leaves transformers' setting as it was
    from transformers.utils import logging as hf_logging

    assert "Loading" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
