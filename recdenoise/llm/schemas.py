"""JSON schemas of the answers, and how each server family is asked to follow them.

Constrained decoding is what makes small local models usable: SmolLM2-135M answers 0 of 16
prompts validly in free text and nearly all when the server's grammar follows the schema.
The schema never replaces validation (:mod:`.parsing` stays strict); it is sent in
``response_format`` and, through the request body, is part of every cache key.

Modes (``--structured``), in the order ``auto`` tries them:

- ``json_schema``: ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
  (OpenAI, vLLM, llama.cpp's llama-server, Ollama);
- ``json_object_schema``: ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server);
- ``json_object``: ``{"type": "json_object"}`` (any JSON; the old ``--json-mode``);
- ``off``: no ``response_format``.

Schemas use only the subset every family accepts in strict mode (``type``, ``properties``,
``required``, ``additionalProperties: false``, ``enum``, ``items``, ``maxItems``); for
llama-cpp-python strings also get ``maxLength`` (:data:`MAX_STRING_CHARS`).
"""

from __future__ import annotations

from typing import Mapping

from ..errors import ConfigError

__all__ = [
    "STRUCTURED_MODES",
    "FALLBACK_ORDER",
    "MAX_LIST_ITEMS",
    "MAX_STRING_CHARS",
    "implicit_feedback_schema",
    "attributes_schema",
    "response_format",
    "PROBE_SCHEMA",
    "probe_messages",
]

STRUCTURED_MODES = ("auto", "json_schema", "json_object_schema", "json_object", "off")
#: What ``auto`` tries, best first; ``off`` when nothing else is accepted.
FALLBACK_ORDER = ("json_schema", "json_object_schema", "json_object")

#: Most entries a list field may have in an answer's schema: a small model under a grammar
#: otherwise repeats list entries until ``max_tokens`` cuts the JSON off (SmolLM2 did, in 4 of
#: 6 profiles). OpenAI, vLLM, llama.cpp and Ollama all accept ``maxItems``.
MAX_LIST_ITEMS = 5
#: Most characters of a string field, sent only to llama-cpp-python (``json_object_schema``),
#: whose grammar honours ``maxLength``; OpenAI's strict mode refuses the keyword.
MAX_STRING_CHARS = 60

_FIELD_SCHEMA = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "string_list": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST_ITEMS},
}


def _object(properties: Mapping[str, dict]) -> dict:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }


def implicit_feedback_schema(num_candidates: int) -> dict:
    """``{"liked": j, "disliked": j'}`` with ``j, j'`` integer enums over ``0..num_candidates-1``."""
    index = {"type": "integer", "enum": list(range(num_candidates))}
    return _object({"liked": index, "disliked": dict(index)})


def attributes_schema(fields: Mapping[str, str]) -> dict:
    """One typed property per attribute / profile field (``string | integer | string_list``)."""
    bad = {k: v for k, v in fields.items() if v not in _FIELD_SCHEMA}
    if bad:
        raise ConfigError(f"attribute types {bad}: choose from {list(_FIELD_SCHEMA)}")
    return _object({name: dict(_FIELD_SCHEMA[kind]) for name, kind in fields.items()})


def response_format(mode: str, name: str, schema: dict | None) -> dict | None:
    """The ``response_format`` of a request in ``mode`` (``None``: send none)."""
    if mode not in STRUCTURED_MODES or mode == "auto":
        raise ConfigError(
            f"structured mode {mode!r}: choose from {list(STRUCTURED_MODES[1:])} (auto is resolved first)"
        )
    if mode == "off":
        return None
    if mode == "json_object" or schema is None:
        return {"type": "json_object"}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": _cap_strings(schema)}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _cap_strings(schema: dict) -> dict:
    """``schema`` with ``maxLength`` on every string (a copy; the input is not changed)."""
    if schema.get("type") == "string":
        return {**schema, "maxLength": MAX_STRING_CHARS}
    out = dict(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _cap_strings(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = _cap_strings(schema["items"])
    return out


#: The probe asks for one thing in words and another in the schema: a server that follows
#: the schema answers ``{"probe": 41}``, one that ignores it follows the words.
PROBE_SCHEMA = _object({"probe": {"type": "integer", "enum": [41]}})


def probe_messages() -> list[dict]:
    return [{"role": "user", "content": 'Reply with exactly this JSON object: {"colour": "blue"}'}]
