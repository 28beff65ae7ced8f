"""docs/extending.md's worked example is real code: register it, validate it, train it."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.errors import ConfigError
from recdenoise.methods import METHODS, build_method, method_options
from recdenoise.models import MF
from recdenoise.training import Trainer

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


@pytest.fixture
def capped_method():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    module = types.ModuleType("capped_doc_example")  # the module of the worked example
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    try:
        exec(compile(blocks[0], str(DOC), "exec"), module.__dict__)
        yield module
    finally:
        METHODS.pop("capped", None)
        sys.modules.pop(module.__name__, None)


def test_worked_example_registers_validates_and_trains(capped_method):
    assert "capped" in METHODS
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['quantil'\] for method 'capped'; valid options: \['quantile', 'warmup'\]"):
        method_options("capped", {"quantil": 0.8})
    train = ratio_split(make_synthetic(60, 80, seed=0).interactions, seed=0).train
    model = MF(train.num_users, train.num_items, embedding_dim=8)
    parts = build_method("capped", train, model, options={"quantile": 0.8, "warmup": 1}, batch_size=128, seed=0)
    before = model.user_embedding.weight.detach().clone()
    fit = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01).fit(2)
    assert torch.isfinite(torch.tensor(fit.history[-1]["loss"]))
    assert not torch.equal(before, model.user_embedding.weight)
