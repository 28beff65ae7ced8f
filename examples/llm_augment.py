"""LLMRec-style augmentation of a tiny dataset against an in-process mock LLM server.

Swap the mock for a real endpoint by changing ``base_url`` / ``model`` (e.g. vLLM at
``http://127.0.0.1:8000/v1``, or OpenAI with ``OPENAI_API_KEY`` set). Rerunning with the same
output folder resumes from the cache and sends nothing it already has.

    python examples/llm_augment.py [output_dir]
"""

from __future__ import annotations

import sys

from recdenoise.llm import AugmentConfig, LLMConfig, MockOpenAIServer, augment, estimate, popularity_candidates
from recdenoise.llm.synthetic import synthetic_movies

output = sys.argv[1] if len(sys.argv) > 1 else "llm_augment_demo"
train = synthetic_movies(num_users=20, num_items=40, seed=0)  # titles, genres, years
candidates = popularity_candidates(train, k=10, seed=0)  # stand-in for a trained model's top-10

with MockOpenAIServer(latency=0.05, fault_rate=0.1, seed=0, embedding_dim=32) as server:
    llm = LLMConfig(base_url=server.base_url, model="mock-llm", concurrency=16, timeout=5.0, backoff_base=0.05)
    cfg = AugmentConfig(embedder="openai", progress=True)  # or "local" (MiniLM) / "none"
    print("dry run:", estimate(train, candidates, output, llm, cfg).to_dict())
    result = augment(train, candidates, output, llm, cfg)

counts = result.manifest["counts"]
print(f"{counts['succeeded']}/{counts['tasks']} tasks ok; failures {counts['failures']}")
print(f"rejected answers (re-asked): {counts['rejections']}")
print(f"{len(result.edges)} augmented (user, pos, neg) edges, e.g. {result.edges[:3].tolist()}")
print("features:", result.manifest["features"]["shapes"])
print("outputs in", result.output_dir)
