"""The repository's shape: studies in their own packages, one DAG, thin DVC wrappers.

Checked from the source text (imports, rule directives, dvc.yaml), so a violation fails here
whatever the machine.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "ebmlab"
STUDIES = PKG / "studies"
STUDY_NAMES = sorted(p.name for p in STUDIES.iterdir() if p.is_dir() and (p / "__init__.py").exists())
#: what the package root may hold: infrastructure, no study code
ROOT_MODULES = {"__init__", "cli", "config", "diagnostics", "errors", "io", "papers", "plotting", "progress",
                "records", "report", "schema"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_every_study_is_a_package_with_the_same_modules():
    assert set(STUDY_NAMES) == {"gmm", "table4_1", "jem", "cd_vs_nll", "stanley", "nijkamp"}
    for name in STUDY_NAMES:
        have = {p.stem for p in (STUDIES / name).glob("*.py")}
        assert {"__init__", "__main__", "jobs"} <= have, name
        assert have & {"run", "figures", "claims"}, name


def test_package_root_holds_only_infrastructure():
    modules = {p.stem for p in PKG.glob("*.py")}
    assert modules <= ROOT_MODULES, f"study code in the package root: {sorted(modules - ROOT_MODULES)}"


def test_no_study_imports_another_study():
    for name in STUDY_NAMES:
        for path in (STUDIES / name).rglob("*.py"):
            for mod in imports_of(path):
                m = re.match(r"ebmlab\.studies\.(\w+)", mod)
                if m and m.group(1) != "base":
                    assert m.group(1) == name, f"{path.relative_to(ROOT)} imports {mod}"


def test_library_layers_import_no_study():
    for path in PKG.rglob("*.py"):
        if STUDIES in path.parents or path.parent == PKG and path.stem == "schema":
            continue
        if path.parent.name == "bench":   # benchmarks time the studies' own configurations
            continue
        for mod in imports_of(path):
            assert not mod.startswith("ebmlab.studies"), f"{path.relative_to(ROOT)} imports {mod}"


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_job_tables_import_no_torch(name):
    """Rule files cut job slices at DAG parse time through these modules."""
    code = (f"import sys, ebmlab.studies.{name}.jobs, ebmlab.studies.base; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def rules_of(text: str) -> list[tuple[str, str]]:
    """(name, body) of every rule in a Snakemake file (indented bodies end at a shallower line)."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)rule (\w+):", line)
        if not m:
            continue
        indent = len(m.group(1))
        body = []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt)
        out.append((m.group(2), "\n".join(body)))
    return out


def test_every_rule_has_a_log_and_resources_or_is_local():
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    seen = 0
    for f in files:
        for name, body in rules_of(f.read_text()):
            seen += 1
            local = re.search(r"^\s*localrule:\s*True", body, re.M) is not None
            has_input_only = not re.search(r"^\s*(shell|run|script):", body, re.M)
            if has_input_only:       # a named target: only inputs, nothing runs
                assert local, f"{f.name}: target rule {name} should be a localrule"
                continue
            assert re.search(r"^\s*log:", body, re.M), f"{f.name}: rule {name} has no log:"
            assert local or re.search(r"^\s*resources:", body, re.M), \
                f"{f.name}: rule {name} has neither resources: nor localrule: True"
    assert seen > 20


def test_rule_files_import_no_torch_at_parse_time():
    for f in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = f.read_text()
        for mod, names in re.findall(r"^\s*from (ebmlab[\w.]*) import ([\w, ]+)", text, re.M):
            ok = re.fullmatch(r"ebmlab\.studies\.\w+\.jobs", mod) or (
                re.fullmatch(r"ebmlab\.studies\.\w+", mod) and names.strip().startswith("jobs"))
            assert ok, f"{f.name} imports {names} from {mod}"
        for mod in re.findall(r"^\s*import (ebmlab[\w.]*)", text, re.M):
            assert re.fullmatch(r"ebmlab\.studies\.\w+\.jobs", mod), f"{f.name} imports {mod}"


def dvc_files():
    return [ROOT / "dvc.yaml", ROOT / "workflow" / "dvc" / "fast" / "dvc.yaml",
            ROOT / "workflow" / "dvc" / "paper" / "dvc.yaml"]


@pytest.mark.parametrize("path", dvc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dvc_stages_wrap_snakemake_targets_and_name_no_figure(path):
    text = path.read_text()
    assert ".png" not in text, f"{path.name} names a figure file: declare the study's figure folder"
    stages = yaml.safe_load(text)["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        assert body["cmd"].startswith("snakemake "), name
        deps = body["deps"]
        assert {"Snakefile", "workflow", "src/ebmlab"} <= set(deps), name
        assert not any(d.endswith(".py") for d in deps), f"{name}: depend on folders, not files"
        assert body.get("plots"), f"{name}: no figure folder declared"


def test_no_bash_copy_of_the_dag():
    scripts = ROOT / "workflow" / "scripts"
    assert not scripts.exists() or not any(scripts.iterdir())
