"""Typed configuration: dataclasses own their defaults, pydantic checks the input.

Every component (sampler, model, study) declares a stdlib dataclass whose fields come
from :func:`field` (default, numeric :class:`Bound`, one-line doc) and whose cross-field
checks live in ``__post_init__``. From each dataclass this module derives, once, a
pydantic model: strict types, the bounds, unknown keys forbidden, and a union
discriminated on ``name`` for a :class:`TaggedType` field. ``from_dict`` validates with
it, reports the first problem as a one-line :class:`ConfigError` naming the key, and
builds the dataclasses. ``json_schema`` is the model's JSON schema; :mod:`ebmlab.schema`
turns the study models into the schema the Snakemake workflow checks params files with.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, WrapValidator
from pydantic_core import PydanticCustomError

from ebmlab.errors import ConfigError


# ---------------------------------------------------------------------------
# what a config dataclass declares

@dataclasses.dataclass(frozen=True)
class Bound:
    """Numeric bounds; ``lo_exclusive``/``hi_exclusive`` make them strict."""

    lo: float | None = None
    hi: float | None = None
    lo_exclusive: bool = False
    hi_exclusive: bool = False

    def constraints(self) -> dict:
        """The bounds as pydantic ``Field`` keywords."""
        lo = {} if self.lo is None else {"gt" if self.lo_exclusive else "ge": self.lo}
        return lo if self.hi is None else {**lo, "lt" if self.hi_exclusive else "le": self.hi}


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


def check(cond: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``cond``: for cross-field checks in __post_init__."""
    if not cond:
        raise ConfigError(message)


class Registry:
    """Name -> config dataclass, for sections such as ``sampler: {name: mala, ...}``."""

    def __init__(self, kind: str, key: str = "name"):
        self.kind = kind
        self.key = key
        self.classes: dict[str, type] = {}

    def register(self, name: str, cls: type) -> None:
        self.classes[name] = cls
        for cached in (model_of, _tagged_union, _adapter):
            cached.cache_clear()  # a model built earlier would not know the new name

    def unknown(self, name: Any) -> str:
        return f"unknown {self.kind} {name!r} (choose from {', '.join(sorted(self.classes))})"

    def lookup(self, name: Any, where: str) -> type:
        if not isinstance(name, str) or name not in self.classes:
            raise ConfigError(f"{where}: {self.unknown(name)}")
        return self.classes[name]


@dataclasses.dataclass
class Tagged:
    """A validated member of a :class:`Registry`: its name and its config."""

    name: str
    config: Any

    def to_dict(self) -> dict:
        return {"name": self.name, **to_dict(self.config)}


class TaggedType:
    """Annotation for a field that holds one member of ``registry`` (as a :class:`Tagged`)."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"TaggedType({self.registry.kind})"


# ---------------------------------------------------------------------------
# annotation -> pydantic type: strict, plus the conversions params files need (YAML
# writes 4.0 for an integer and reads 1e-4, without a dot, as a string)

def _fail(message: str, key: str | None = None) -> PydanticCustomError:
    # a complete message; from_dict puts the key path (and ``key``) in front
    return PydanticCustomError("config", "{message}", {"message": message, "key": key})


def _as_float(v: Any) -> Any:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return v
    if isinstance(v, float) and not math.isfinite(v):  # .inf, .nan: never a meaningful setting
        raise _fail(f"must be a finite number, got {v!r}")
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _sequence(n: int | None, container: type) -> BeforeValidator:
    def convert(v):
        if not isinstance(v, (list, tuple)):
            raise _fail(f"expected a list, got {v!r}")
        if n is not None and len(v) != n:
            raise _fail(f"expected {n} items, got {len(v)}")
        return container(v)
    return BeforeValidator(convert)


def _mapping(v: Any) -> dict:
    if not isinstance(v, dict):
        raise _fail(f"expected a mapping, got {v!r}")
    return {str(k): x for k, x in v.items()}


def _either(args: tuple) -> WrapValidator:
    # one message for a union of several types rather than one per member
    names = " or ".join({type(None): "null", float: "number", int: "integer", bool: "boolean",
                         str: "string"}.get(a, getattr(a, "__name__", str(a))) for a in args)

    def validate(v, handler):
        if v is None:
            raise _fail("must not be null")
        try:
            return handler(v)
        except pydantic.ValidationError:
            raise _fail(f"expected {names}, got {v!r}") from None
    return WrapValidator(validate)


def _pydantic_type(tp: Any, bound: Bound | None = None) -> Any:
    """The pydantic type that checks a value of annotation ``tp`` (``bound``: for numbers)."""
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(tp, TaggedType):
        return _tagged_union(tp.registry)
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        inner = (_pydantic_type(arms[0], bound) if len(arms) == 1 else
                 Annotated[Union[tuple(_pydantic_type(a, bound) for a in arms)],
                           Field(union_mode="left_to_right"), _either(args)])
        return Optional[inner] if len(arms) < len(args) else inner
    if origin is tuple and args and args[-1] is not Ellipsis:
        return Annotated[tuple[tuple(_pydantic_type(a) for a in args)], _sequence(len(args), tuple)]
    if origin in (list, tuple):
        item = _pydantic_type(args[0]) if args else Any
        return Annotated[list[item] if origin is list else tuple[item, ...], _sequence(None, origin)]
    if origin is dict:
        return Annotated[dict[str, _pydantic_type(args[1]) if args else Any], BeforeValidator(_mapping)]
    if dataclasses.is_dataclass(tp):
        return Annotated[model_of(tp), AfterValidator(functools.partial(_build, tp))]
    limits = (Field(**bound.constraints()),) if bound else ()
    if tp is int:  # the bound inside the conversion: its error shows the converted value
        return Annotated[(pydantic.StrictInt, *limits,
                          BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v))]
    if tp is float:
        return Annotated[(pydantic.StrictFloat, *limits, BeforeValidator(_as_float))]
    return {bool: pydantic.StrictBool, str: pydantic.StrictStr}.get(tp, tp)  # also Any, Literal


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


@functools.cache
def model_of(cls: type, tag: tuple[str, str, tuple[str, ...]] | None = None) -> type[pydantic.BaseModel]:
    """The pydantic model of config dataclass ``cls``, built once.

    ``tag = (title, key, names)`` makes it a registry branch, with ``key: Literal[names]`` first.
    """
    defs: dict[str, Any] = {tag[1]: (Literal[tag[2]], ...)} if tag else {}
    for name, (f, tp) in _fields(cls).items():
        info: dict[str, Any] = {"description": f.metadata.get("doc") or None}
        # for the schema only: from_dict passes the keys it got and the dataclass fills the rest
        if f.default is not dataclasses.MISSING:
            info["default"] = to_dict(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            info["default"] = to_dict(f.default_factory())
        defs[name] = (_pydantic_type(tp, f.metadata.get("bound")), Field(**info))
    doc = " ".join((cls.__doc__ or "").split())
    return pydantic.create_model(
        tag[0] if tag else cls.__name__, __config__=pydantic.ConfigDict(extra="forbid", protected_namespaces=()),
        __doc__=None if doc.startswith(f"{cls.__name__}(") else doc, **defs)  # not dataclass's signature doc


def _build(cls: type, m: pydantic.BaseModel) -> Any:
    return cls(**{k: getattr(m, k) for k in m.model_fields_set if k in cls.__dataclass_fields__})


@functools.cache
def _tagged_union(registry: Registry) -> Any:
    key = registry.key
    names: dict[type, list[str]] = {}  # one branch per class, under every name it is registered as
    for name, cls in registry.classes.items():
        names.setdefault(cls, []).append(name)
    branches = tuple(
        Annotated[model_of(cls, (f"{registry.kind.replace(' ', '_')}-{ns[0]}", key, tuple(ns))),
                  AfterValidator(lambda m, cls=cls: Tagged(getattr(m, key), _build(cls, m)))]
        for cls, ns in names.items())

    def known_name(v):  # the messages of a missing or unknown name, before pydantic's own
        if not isinstance(v, dict):
            raise _fail(f"expected a mapping with a '{key}' key, got {v!r}")
        if v.get(key) is None:
            raise _fail(f"missing key '{key}'")
        if not isinstance(v[key], str) or v[key] not in registry.classes:
            raise _fail(registry.unknown(v[key]), key)
        return v
    union = Annotated[Union[branches], Field(discriminator=key)] if len(branches) > 1 else branches[0]
    # a root model, so that a JSON schema has the union once, in $defs
    spec = type(registry.kind.replace(" ", "_"), (pydantic.RootModel[Annotated[union, BeforeValidator(known_name)]],),
                {"__doc__": f"one {registry.kind}, chosen by its '{key}'"})
    return Annotated[spec, AfterValidator(lambda m: m.root)]


@functools.cache
def _adapter(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(_pydantic_type(cls))


# ---------------------------------------------------------------------------
# pydantic's errors -> the one-line message of the first, by key path

_EXPECTED = {"int_type": "expected an integer", "float_type": "expected a number",
             "bool_type": "expected true or false", "string_type": "expected a string",
             "model_type": "expected a mapping", "dict_type": "expected a mapping"}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _first(errors: list[dict]) -> dict:
    """The error a depth-first check meets first: a mapping's unknown keys, then its fields in order."""
    prefix: tuple = ()
    while True:
        here = [e for e in errors if e["loc"][:len(prefix)] == prefix]
        unknown = [e for e in here if e["type"] == "extra_forbidden" and len(e["loc"]) == len(prefix) + 1]
        if unknown or len(here[0]["loc"]) == len(prefix):
            return (unknown or here)[0]
        prefix = here[0]["loc"][:len(prefix) + 1]


def _strip_none(tp: Any) -> Any:
    args = get_args(tp)
    optional = get_origin(tp) in (Union, types.UnionType) and len(args) == 2 and type(None) in args
    return next(a for a in args if a is not type(None)) if optional else tp


def _locate(tp: Any, loc: tuple, where: str) -> tuple[str, Any, type | None]:
    """Follow an error location through the annotations: (key path, annotation, dataclass holding it)."""
    path, owner = where, None
    for part in loc:
        tp = _strip_none(tp)
        if isinstance(tp, TaggedType):
            classes = set(tp.registry.classes.values())
            if len(classes) > 1:  # a discriminated union: this part is the branch tag, not a key
                tp = tp.registry.classes[part]
                continue
            tp = classes.pop()
        origin, args = get_origin(tp), get_args(tp)
        if origin in (list, tuple):
            tp, path = (args[part] if args[-1] is not Ellipsis and origin is tuple else args[0]), f"{path}[{part}]"
            continue
        if dataclasses.is_dataclass(tp):
            owner, tp = tp, typing.get_type_hints(tp).get(part)
        else:  # dict[str, X]
            tp = args[1] if args else Any
        path = f"{path}.{part}" if path else str(part)
    return path, tp, owner


def _message(err: dict, cls: type, where: str) -> str:
    path, tp, owner = _locate(cls, err["loc"], where)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key '{path}' (allowed: {', '.join(_fields(owner))})"
    if kind == "missing":
        return f"missing required key '{path}'"
    if kind == "config":
        path, what = (f"{path}.{ctx['key']}" if ctx["key"] else path), ctx["message"]
    elif kind == "value_error":  # a ConfigError from __post_init__
        what = str(ctx["error"])
    elif kind == "literal_error":
        what = f"must be one of {', '.join(map(repr, get_args(_strip_none(tp))))}, got {value!r}"
    elif kind in _BOUNDS:
        what = ("must be a number, got NaN" if isinstance(value, float) and math.isnan(value) else
                f"must be {_BOUNDS[kind]} {next(iter(ctx.values())):g}, got {value!r}")
    else:
        what = f"{_EXPECTED.get(kind, err['msg'])}, got {value!r}"
    return f"{path}: {what}" if path else what


def from_dict(cls: type, data: dict | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values raise ConfigError."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    try:
        return _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        err = _first(exc.errors())
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Exception) and not isinstance(cause, ConfigError):
            raise cause from None  # a bug in a __post_init__, not bad input
        raise ConfigError(_message(err, cls, where)) from None


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


def json_schema(cls: type) -> dict:
    """JSON schema (draft 2020-12) of a config dataclass; nested configs are under ``$defs``."""
    return model_of(cls).model_json_schema()


