"""tools/: the GPU check script parses, and nothing points at the scripts it replaced."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
# the scripts tools/gpu_check.sh replaced (spelled in pieces so that this file does not match)
OLD = ["workflow/scripts/" + name for name in
       ("gpu_session.sh", "jem_gpu_check.sh", "stanley_gpu.sh", "cd_vs_nll.sh")]
SKIP_DIRS = {".git", ".venv", ".snakemake", "__pycache__", ".pytest_cache", "results", "logs", "data"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_gpu_check_script_parses():
    assert SCRIPT.is_file()
    res = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    assert "--resources gpu=" in text and "--config profile=fast" in text


def _repo_files():
    try:
        res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        if res.returncode == 0:
            return [ROOT / f for f in res.stdout.splitlines()]
    except (OSError, subprocess.SubprocessError):
        pass
    return [p for p in ROOT.rglob("*")
            if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)]


def test_no_references_to_replaced_scripts():
    for old in OLD:
        assert not (ROOT / old).exists(), old
    hits = []
    for path in _repo_files():
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(errors="ignore")
        except OSError:
            continue
        hits += [f"{path.relative_to(ROOT)}: {old}" for old in OLD if old in text]
    assert not hits, "references to removed scripts (use tools/gpu_check.sh or the Snakemake targets):\n" + \
        "\n".join(hits)
