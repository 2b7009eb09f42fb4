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


SLURM_CHECK = ROOT / "tools" / "slurm_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_slurm_check_script_parses_and_cleans_up():
    res = subprocess.run(["bash", "-n", str(SLURM_CHECK)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = SLURM_CHECK.read_text()
    assert "set -euo pipefail" in text and "trap cleanup EXIT" in text
    assert "--profile workflow/profiles/slurm" in text and "--profile workflow/profiles/local" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_slurm_check_without_slurm_names_the_packages_and_installs_nothing(tmp_path):
    # a PATH with the few tools the script needs before its check, and no SLURM or munge
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "basename", "mkdir", "tee", "date"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    log = tmp_path / "check.log"
    res = subprocess.run([shutil.which("bash"), str(SLURM_CHECK), str(log)], env={"PATH": str(bin_dir)},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "apt-get install -y slurm-wlm munge" in res.stdout
    assert "missing: slurmctld slurmd munged" in log.read_text()
