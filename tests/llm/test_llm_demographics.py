"""Known demographics (ML-100K's ``u.user``: age, gender, occupation) reach the prompts as data,
and the mock keeps them in the profiles it answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from recdenoise.llm import AugmentConfig
from recdenoise.llm.augment import build_tasks
from recdenoise.llm.mock_server import mock_chat_answer
from recdenoise.llm.prompts import extract_data_block
from recdenoise.llm.synthetic import synthetic_movies
from recdenoise.llm.text import user_records


def _with_users(train, info: pd.DataFrame):
    from dataclasses import replace

    return replace(train, user_info=info)


def _block(task) -> dict:
    return extract_data_block(task.messages[1]["content"])


def test_user_records_and_prompts():
    train = synthetic_movies(4, 20, seed=0)
    assert user_records(train) == [{}] * 4  # no user_info: no block
    tasks, _, _ = build_tasks(train, np.tile(np.arange(10, 20), (4, 1)), AugmentConfig(embedder="none"))
    assert all("user" not in _block(t) for t in tasks)

    info = pd.DataFrame(
        {
            "user_id": train.user_ids,
            "age": [24, 53, 31, np.nan],
            "gender": ["M", "F", "M", "F"],
            "occupation": ["technician", "other", "writer", ""],
            "zip": ["85711", "94043", "32067", "43537"],
        }
    )
    train = _with_users(train, info)
    assert user_records(train)[0] == {"age": 24, "gender": "male", "occupation": "technician"}
    assert user_records(train)[3] == {"gender": "female"}  # missing values are left out, zip never shown
    tasks, _, _ = build_tasks(train, np.tile(np.arange(10, 20), (4, 1)), AugmentConfig(embedder="none"))
    by_id = {t.task_id: t for t in tasks}
    assert _block(by_id["implicit:1"])["user"] == {"age": 53, "gender": "female", "occupation": "other"}
    profile = by_id["user:0"]
    assert _block(profile)["user"]["occupation"] == "technician"
    answer = mock_chat_answer(profile.messages)
    assert answer["age"] == 24 and answer["gender"] == "male"  # known facts kept
    assert profile.parse(json.dumps(answer))["age"] == 24
