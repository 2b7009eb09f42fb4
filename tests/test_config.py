"""The config layer: exact one-line errors and a schema that matches the dataclasses."""

import dataclasses
from pathlib import Path
from typing import Literal

import pytest
import yaml

from ebmlab.config import (
    POSITIVE, ConfigError, field, from_dict, json_schema, to_dict,
)
from ebmlab.cli import apply_overrides
from ebmlab.io import load_yaml
from ebmlab.schema import render

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Inner:
    rate: float = field(0.1, bound=POSITIVE)
    mode: Literal["a", "b"] = field("a")


@dataclasses.dataclass
class Outer:
    n: int = field(3)
    flag: bool = field(False)
    pair: tuple[float, float] | None = field(None)
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize("data,message", [
    ({"m": 1}, "unknown key 'm' (allowed: n, flag, pair, inner)"),
    ({"inner": {"rat": 1}}, "unknown key 'inner.rat' (allowed: rate, mode)"),
    ({"n": "3"}, "n: expected an integer, got '3'"),
    ({"n": 2.5}, "n: expected an integer, got 2.5"),
    ({"n": True}, "n: expected an integer, got True"),
    ({"flag": 1}, "flag: expected true or false, got 1"),
    ({"inner": {"rate": 0}}, "inner.rate: must be > 0, got 0.0"),
    ({"inner": {"mode": "c"}}, "inner.mode: must be one of 'a', 'b', got 'c'"),
    ({"pair": [1, 2, 3]}, "pair: expected 2 items, got 3"),
    ({"inner": 5}, "inner: expected a mapping, got 5"),
])
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data)
    assert str(e.value) == message


def test_defaults_and_round_trip():
    cfg = from_dict(Outer, {"n": 4.0, "pair": [1, 2], "inner": {"rate": "1e-4"}})
    assert cfg.n == 4 and cfg.pair == (1.0, 2.0) and cfg.inner.rate == 1e-4
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_overrides():
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=x"])
    assert data == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": "x"}}
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        apply_overrides({}, ["oops"])


def test_malformed_yaml_is_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("gmm:\n  train: {epochs: 3\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert str(e.value).startswith(f"malformed YAML in {p} line 3 column 1: ")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="params file not found"):
        load_yaml(tmp_path / "none.yaml")


def test_json_schema_mirrors_fields():
    s = json_schema(Outer)
    assert s["additionalProperties"] is False
    inner = s["$defs"][s["properties"]["inner"]["$ref"].split("/")[-1]]  # nested configs live in $defs
    assert inner["additionalProperties"] is False
    assert inner["properties"]["rate"]["exclusiveMinimum"] == 0.0
    assert inner["properties"]["mode"]["enum"] == ["a", "b"]


def test_committed_schema_is_up_to_date():
    committed = (ROOT / "workflow/schemas/params.schema.yaml").read_text()
    assert committed == render(), "run: python -m ebmlab.schema > workflow/schemas/params.schema.yaml"


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_profiles_validate(profile):
    """Every params profile passes the schema and the library's own validation."""
    import jsonschema
    from ebmlab.schema import study_sections
    path = ROOT / f"params/{profile}.yaml"
    if not path.exists():
        pytest.skip(f"no params/{profile}.yaml yet")
    data = yaml.safe_load(path.read_text())
    schema = yaml.safe_load((ROOT / "workflow/schemas/params.schema.yaml").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(data)
    assert data["profile"] == profile
    for name, cls in study_sections().items():
        if name in data:
            from_dict(cls, data[name], name)
