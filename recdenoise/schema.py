"""Typed dataclasses from TOML/command-line values, and back: the checks behind every config.

:func:`build_dataclass` instantiates a (nested) dataclass from a mapping, refusing unknown keys
(the message lists the valid ones) and values of the wrong type (the message names the key
and the expected type); strings from the command line are converted (``"3"`` -> ``3``).
:func:`to_plain` turns such a dataclass into JSON/TOML-ready dicts and lists.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Union

from .errors import ConfigError

__all__ = ["build_dataclass", "coerce_field", "to_plain"]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), True
    return tp, False


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one TOML/CLI value to the field type ``tp``."""
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: a value is required (got none)")
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif tp is int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                pass
        if number is not None:
            if not -(2**63) <= number < 2**63:
                raise ConfigError(f"{where}: {value!r} does not fit a 64-bit integer")
            return number
    elif tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(f"{where}: expected a finite number, got {value!r}")
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif tp is dict or origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    elif tp is Any:
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{where}: expected {name}, got {value!r} ({type(value).__name__})")


def coerce_field(cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` converted to the type of field ``name`` of dataclass ``cls`` (``where`` names it in errors)."""
    return _coerce(value, typing.get_type_hints(cls)[name], where)


def build_dataclass(cls: type, values: Mapping[str, Any], where: str = "", label: str = "config key") -> Any:
    """Instantiate dataclass ``cls`` from ``values``, checking every key and type.

    Args:
        where: prefix of the names in messages (a config section like ``"train"``, or
            ``"method 'pld' option"`` with ``label="option"``).
        label: what a key is called in messages.

    Raises:
        ConfigError: an unknown key (the message lists the valid ones) or a value of the
            wrong type (the message names the key and the expected type).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a table of {label}s, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    section = label == "config key"
    if unknown:
        if section:
            prefix = f"{where}." if where else ""
            raise ConfigError(
                f"unknown config key(s) {[prefix + k for k in unknown]}; valid keys{' of [' + where + ']' if where else ''}: "
                f"{sorted(fields)}"
            )
        raise ConfigError(f"unknown {label}(s) {unknown} for {where.rsplit(' ', 1)[0]}; valid {label}s: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        key = (f"{where}.{name}" if where else name) if section else f"{where} {name}"
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table [{key}], got {value!r}")
            kwargs[name] = build_dataclass(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def to_plain(cfg: Any) -> dict[str, Any]:
    """JSON/TOML-ready nested dict of a config (tuples as lists, paths as strings)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


