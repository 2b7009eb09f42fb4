"""Install metadata agrees with itself, and CI runs what the README tells users to run."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def constraints():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith(("#", "-")):  # skip comments and pip options (--no-binary)
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_matches_constraints():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = constraints()
    for req in pip:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(.+)", req)
        if m:
            assert pins[m.group(1).lower()] == m.group(2), req
    assert "torch>=2.11,<2.15" in pip and "torchvision>=0.26,<0.30" in pip


def test_torch_ranges_admit_both_machines():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=2.11,<2.15"' in text and '"torchvision>=0.26,<0.30"' in text
    assert "torch" not in constraints() and "torchvision" not in constraints()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if line.strip()]
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd in (ROOT / ".ci/run").read_text()
