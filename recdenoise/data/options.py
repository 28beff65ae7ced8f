"""Typed reader options: one frozen dataclass per reader, validated in one place.

Each reader (and :func:`~recdenoise.data.make_synthetic`) has a frozen dataclass listing its
options with their defaults; the reader's keyword defaults are read from it, so the class is
the one place a default lives. :func:`parse_options` turns a plain mapping (``--data-option``,
TOML ``[data] options``) into that class: an unknown key is a :class:`ConfigError` listing
the valid keys, a value of the wrong type names the key and the expected type.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

from ..errors import ConfigError

__all__ = ["parse_options", "option_names"]

T = TypeVar("T")
_NO_MATCH = object()


def option_names(cls: type, fixed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Sorted option names of ``cls`` a caller may set (``fixed`` ones are set by the registry)."""
    return sorted(f.name for f in dataclasses.fields(cls) if f.name not in fixed)


def parse_options(cls: type[T], values: Mapping[str, Any], where: str, fixed: set[str] | frozenset[str] = frozenset()) -> T:
    """``cls(**values)`` after checking every key and value against ``cls``'s fields.

    Args:
        cls: a frozen options dataclass.
        values: the options as given (TOML values: lists become tuples where a tuple is expected).
        where: what takes the options, for messages (``"dataset 'ml-100k'"``).
        fixed: fields the caller may not set (e.g. a registered dataset's declared id space).

    Raises:
        ConfigError: an unknown key (the message lists the valid ones) or a value of the wrong
            type (the message names the key and the expected type).
    """
    allowed = option_names(cls, fixed)
    if unknown := sorted(set(values) - set(allowed)):
        raise ConfigError(f"{where} does not take option(s) {unknown}; it accepts {allowed}")
    hints = get_type_hints(cls)
    checked = {}
    for key, value in values.items():
        converted = _convert(value, hints[key])
        if converted is _NO_MATCH:
            raise ConfigError(
                f"{where}: option {key!r} must be {_type_name(hints[key])}, got {value!r} ({type(value).__name__})"
            )
        checked[key] = converted
    return cls(**checked)


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (int -> float, list -> tuple), or ``_NO_MATCH``."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in get_args(hint):
            if (converted := _convert(value, arg)) is not _NO_MATCH:
                return converted
        return _NO_MATCH
    if hint is type(None):
        return None if value is None else _NO_MATCH
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _NO_MATCH
        items = [_convert(v, get_args(hint)[0]) for v in value]
        return _NO_MATCH if any(v is _NO_MATCH for v in items) else tuple(items)
    if hint is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _NO_MATCH
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO_MATCH
    return value if isinstance(value, hint) else _NO_MATCH


def _type_name(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(hint))
    if hint is type(None):
        return "None"
    if origin is tuple:
        return f"a list of {_type_name(get_args(hint)[0])}"
    return hint.__name__
