"""Strict validation of LLM answers: only well-formed, in-schema answers become data.

Every check that fails raises :class:`AnswerError` with a short ``reason`` (counted per
reason by the runner) and a ``detail`` (logged, and quoted back to the model on a re-ask):

- ``unparseable``: not a JSON object (a surrounding ```json fence is tolerated);
- ``schema``: a required key is missing or has the wrong type;
- ``out_of_candidates``: an implicit-feedback answer names no candidate of this user;
- ``duplicate_item``: liked and disliked are the same candidate.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ..errors import LLMError

__all__ = ["ANSWER_REJECTION_REASONS", "AnswerError", "extract_json", "parse_preference_pair", "parse_attributes"]

#: Reasons an answer can be rejected for (final verdicts: a rerun replays the same answers).
ANSWER_REJECTION_REASONS = ("unparseable", "schema", "out_of_candidates", "duplicate_item")

_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)
_INT_RE = re.compile(r"^[+-]?\d+$")
_MAX_STRING = 200
_MAX_LIST = 20


class AnswerError(LLMError):
    """An answer failed validation; ``reason`` is one of the kinds in the module docstring."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def extract_json(text: str) -> dict:
    """The JSON object in ``text`` (optionally inside a ```` ```json ```` fence), else :class:`AnswerError`."""
    body = text.strip()
    fenced = _FENCE_RE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:  # strict=False: a raw tab or newline inside a string (small models emit them) is not an error
        obj = json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        raise AnswerError("unparseable", f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(obj, dict):
        raise AnswerError("unparseable", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _as_index(value: Any, name: str) -> int:
    if isinstance(value, bool):  # bool is an int subclass; True is not a candidate
        raise AnswerError("schema", f"{name!r} must be an integer index, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    raise AnswerError("schema", f"{name!r} must be an integer index, got {value!r}")


def parse_preference_pair(text: str, num_candidates: int) -> tuple[int, int]:
    """``(liked, disliked)`` candidate positions from ``{"liked": j, "disliked": j'}``.

    Both must lie in ``[0, num_candidates)`` and differ.
    """
    obj = extract_json(text)
    for key in ("liked", "disliked"):
        if key not in obj:
            raise AnswerError("schema", f'missing key {key!r}; expected {{"liked": <index>, "disliked": <index>}}')
    liked, disliked = _as_index(obj["liked"], "liked"), _as_index(obj["disliked"], "disliked")
    for name, j in (("liked", liked), ("disliked", disliked)):
        if not 0 <= j < num_candidates:
            raise AnswerError("out_of_candidates", f"{name}={j} is not a candidate index (0..{num_candidates - 1})")
    if liked == disliked:
        raise AnswerError("duplicate_item", f"liked and disliked are both candidate {liked}")
    return liked, disliked


def _check_value(name: str, kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise AnswerError("schema", f"{name!r} must be a non-empty string, got {value!r}"[:300])
        return value.strip()[:_MAX_STRING]
    if kind == "integer":
        if isinstance(value, bool):
            raise AnswerError("schema", f"{name!r} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            return int(value.strip())
        raise AnswerError("schema", f"{name!r} must be an integer, got {value!r}"[:300])
    if kind == "string_list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AnswerError("schema", f"{name!r} must be a list of strings, got {value!r}"[:300])
        return [v.strip()[:_MAX_STRING] for v in value if v.strip()][:_MAX_LIST]
    raise LLMError(f"unknown attribute type {kind!r} for {name!r}; use one of string, integer, string_list")


def parse_attributes(text: str, schema: Mapping[str, str]) -> dict:
    """Validated ``{name: value}`` for every ``name`` in ``schema`` (extra keys are dropped).

    ``schema`` maps names to ``"string"``, ``"integer"`` or ``"string_list"``; strings are
    stripped and capped at 200 characters, lists at 20 entries.
    """
    obj = extract_json(text)
    missing = [name for name in schema if name not in obj]
    if missing:
        raise AnswerError("schema", f"missing keys {missing}")
    return {name: _check_value(name, kind, obj[name]) for name, kind in schema.items()}
