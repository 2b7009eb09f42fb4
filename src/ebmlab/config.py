"""Typed configuration: dataclasses own their defaults, unknown keys are errors.

Every component (sampler, model, study) declares a dataclass. ``from_dict`` turns a
plain mapping (from YAML, JSON or keyword arguments) into that dataclass, checking
keys, types and value constraints, and raises :class:`ConfigError` with a one-line
message naming the offending key. ``json_schema`` derives the JSON schema that the
Snakemake workflow validates its params files against, so the schema and the
library cannot drift apart (a test regenerates it and compares).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Union, get_args, get_origin

import yaml

from ebmlab.errors import ConfigError


# ---------------------------------------------------------------------------
# value constraints, attached to dataclass fields through ``metadata``

@dataclasses.dataclass(frozen=True)
class Bound:
    """Numeric bounds; ``exclusive`` makes ``lo`` a strict lower bound."""

    lo: float | None = None
    hi: float | None = None
    lo_exclusive: bool = False
    hi_exclusive: bool = False

    def check(self, value: float) -> str | None:
        if isinstance(value, float) and math.isnan(value):
            return "must be a number, got NaN"
        if self.lo is not None:
            bad = value <= self.lo if self.lo_exclusive else value < self.lo
            if bad:
                return f"must be {'>' if self.lo_exclusive else '>='} {self.lo:g}, got {value!r}"
        if self.hi is not None:
            bad = value >= self.hi if self.hi_exclusive else value > self.hi
            if bad:
                return f"must be {'<' if self.hi_exclusive else '<='} {self.hi:g}, got {value!r}"
        return None


POSITIVE = Bound(lo=0.0, lo_exclusive=True)
NONNEG = Bound(lo=0.0)
UNIT = Bound(lo=0.0, hi=1.0)
OPEN_UNIT = Bound(lo=0.0, hi=1.0, lo_exclusive=True, hi_exclusive=True)


def field(default: Any = dataclasses.MISSING, *, bound: Bound | None = None,
          doc: str = "", default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with an optional numeric bound and a one-line doc."""
    meta = {"bound": bound, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------------------
# polymorphic sections: a mapping whose "name" key picks the dataclass

class Registry:
    """Name -> config dataclass, for sections such as ``sampler: {name: mala, ...}``."""

    def __init__(self, kind: str, key: str = "name"):
        self.kind = kind
        self.key = key
        self.classes: dict[str, type] = {}

    def register(self, name: str, cls: type) -> None:
        self.classes[name] = cls

    def lookup(self, name: Any, where: str) -> type:
        if not isinstance(name, str) or name not in self.classes:
            raise ConfigError(
                f"{where}: unknown {self.kind} {name!r} (choose from {', '.join(sorted(self.classes))})")
        return self.classes[name]


@dataclasses.dataclass
class Tagged:
    """A validated member of a :class:`Registry`: its name and its config."""

    name: str
    config: Any

    def to_dict(self) -> dict:
        return {"name": self.name, **to_dict(self.config)}


class TaggedType:
    """Type marker used in annotations: ``Annotated``-free way to say 'one of a registry'."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"TaggedType({self.registry.kind})"


# ---------------------------------------------------------------------------

def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}.get(
            tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _resolved_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; return the converted value."""
    origin = get_origin(tp)
    if isinstance(tp, TaggedType):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping with a '{tp.registry.key}' key, got {value!r}")
        body = dict(value)
        name = body.pop(tp.registry.key, None)
        if name is None:
            raise ConfigError(f"{where}: missing key '{tp.registry.key}'")
        cls = tp.registry.lookup(name, f"{where}.{tp.registry.key}")
        return Tagged(name, from_dict(cls, body, where))
    if tp is Any:
        return value
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = get_args(tp) or (str, Any)
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML 1.1 reads '1e-4' (no dot) as a string; accept numeric strings.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # programming error


def from_dict(cls: type, data: dict | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values raise ConfigError."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else str(unknown[0])
        raise ConfigError(f"unknown key '{key}' (allowed: {', '.join(fields)})")
    hints = _resolved_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key '{path}'")
            continue
        value = _coerce(data[name], hints[name], path)
        bound = f.metadata.get("bound") if f.metadata else None
        if bound is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = bound.check(value)
            if problem:
                raise ConfigError(f"{path}: {problem}")
        kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None
    return obj


def to_dict(obj: Any) -> Any:
    """Plain (YAML/JSON-ready) form of a config object, defaults included."""
    if isinstance(obj, Tagged):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------------------
# JSON schema, derived from the same dataclasses

def _schema_of(tp: Any) -> dict:
    origin = get_origin(tp)
    if isinstance(tp, TaggedType):
        # if/then per name rather than oneOf, so a validator reports the exact bad key
        key = tp.registry.key
        branches = []
        for name, cls in sorted(tp.registry.classes.items()):
            # no defaults inside branches: a default-filling validator would merge
            # every branch's defaults into the instance (the library fills them)
            body = _strip_defaults(json_schema(cls))
            body["properties"] = {key: {"const": name}, **body["properties"]}
            branches.append({"if": {"properties": {key: {"const": name}}, "required": [key]},
                             "then": body})
        return {"type": "object", "required": [key],
                "properties": {key: {"enum": sorted(tp.registry.classes)}}, "allOf": branches}
    if tp is Any:
        return {}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(a) for a in get_args(tp)]}
    if origin in (list, tuple):
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [_schema_of(a) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": _schema_of(args[0]) if args else {}}
    if origin is dict:
        _, vt = get_args(tp) or (str, Any)
        return {"type": "object", "additionalProperties": _schema_of(vt)}
    if dataclasses.is_dataclass(tp):
        return json_schema(tp)
    if tp is type(None):
        return {"type": "null"}
    return {"type": _type_name(tp)}


def _strip_defaults(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_strip_defaults(v) for v in schema]
    return schema


def json_schema(cls: type) -> dict:
    """JSON schema (draft 2020-12 subset) of a config dataclass."""
    hints = _resolved_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        s = _schema_of(hints[f.name])
        bound = f.metadata.get("bound") if f.metadata else None
        if bound is not None:
            if bound.lo is not None:
                s["exclusiveMinimum" if bound.lo_exclusive else "minimum"] = bound.lo
            if bound.hi is not None:
                s["exclusiveMaximum" if bound.hi_exclusive else "maximum"] = bound.hi
        doc = f.metadata.get("doc") if f.metadata else ""
        if doc:
            s["description"] = doc
        if f.default is not dataclasses.MISSING:
            s["default"] = to_dict(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            s["default"] = to_dict(f.default_factory())
        else:
            required.append(f.name)
        props[f.name] = s
    out = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    if required:
        out["required"] = required
    return out


# ---------------------------------------------------------------------------
# reading params files and command-line overrides

def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing file or malformed YAML is a one-line ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None


def parse_inline(text: str) -> Any:
    """Parse an inline YAML/JSON mapping given on the command line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed inline config: {problem}") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested mapping."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        value = parse_inline(raw) if raw else ""
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return data


def select(data: Any, section: str | None, source: str) -> Any:
    """Return ``data[section]`` for a dotted section name, with a clear error."""
    if not section:
        return data
    node = data
    for part in section.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"section '{section}' not found in {source}")
        node = node[part]
    return node


def dump_yaml(data: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def check(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``cond``: for cross-field checks in __post_init__."""
    if not cond:
        raise ConfigError(message)


def run_of(study: Any, label: str, shared_cls: type, run_cls: type, runs: str = "samplers",
           spec: str = "sampler") -> Any:
    """One run's slice of a study: the fields of ``shared_cls`` plus ``label`` and its own spec.

    ``getattr(study, runs)`` maps run labels to specs; an unknown label is a one-line ConfigError.
    """
    table = getattr(study, runs)
    if label not in table:
        raise ConfigError(f"unknown run {label!r} (this study has {', '.join(table)})")
    shared = {f.name: getattr(study, f.name) for f in dataclasses.fields(shared_cls)}
    return run_cls(**shared, label=label, **{spec: table[label]})


Validator = Callable[[Any], None]
