#!/usr/bin/env bash
# Build llama-cpp-python 0.3.36 for THIS machine's CPU into ~/.cache/recdenoise/wheels, where
# .ci/run and tests/llm/test_real_llama_server.py look first. Needed when the shared prebuilt
# wheel (built with AVX-512) dies with SIGILL here. Takes 10-40 minutes on two cores.
set -euo pipefail
out="${XDG_CACHE_HOME:-$HOME/.cache}/recdenoise/wheels"
mkdir -p "$out"
python -m pip wheel --no-deps --no-binary llama-cpp-python "llama-cpp-python==0.3.36" -w "$out"
echo "built: $(ls "$out"/llama_cpp_python-*.whl)"
