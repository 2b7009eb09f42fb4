"""Nijkamp et al.'s diagnostics (appendix D) and practical options (appendix A-C)."""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ebmlab import samplers
from ebmlab.errors import ConfigError
from ebmlab.diagnostics import autocorr, crosscorr, oscillation
from ebmlab.studies.nijkamp.__main__ import main
from ebmlab.studies.nijkamp.run import diagnose
from ebmlab.train.practical import (
    LRAnnealConfig, ScaledEnergy, annealed_lr, data_noise_std, lr_annealing_hook, scaled_lr,
)


def test_autocorr_by_hand():
    rho = autocorr(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    # deviations -1.5 -0.5 0.5 1.5, sum of squares 5
    assert rho[0] == pytest.approx(1.0)
    assert rho[1] == pytest.approx((0.75 - 0.25 + 0.75) / 5)
    assert rho[2] == pytest.approx((-1.5 * 0.5 + -0.5 * 1.5) / 5)


def test_crosscorr_peaks_at_the_shift():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(500)
    y = np.roll(x, 3)  # y[t + 3] = x[t]
    lags, c = crosscorr(x, y, 5)
    assert lags[np.argmax(c)] == 3 and c.max() > 0.95


def test_oscillation_labels():
    rng = np.random.default_rng(1)
    n = 400
    alternating = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) + 0.3 * rng.standard_normal(n)
    white = rng.standard_normal(n)
    drifting = 1.0 + 0.1 * rng.standard_normal(n)
    assert oscillation(alternating)["label"] == "strong"
    w = oscillation(white)
    assert w["label"] == "weak" and w["threshold"] == pytest.approx(-2 / math.sqrt(n // 2))
    assert oscillation(drifting)["label"] == "none"
    assert oscillation(white[:5])["label"] == "too_short"


def write_history(path, d, r):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["iteration", "d_st", "r_t", "sampler"])
        for i, (a, b) in enumerate(zip(d, r)):
            w.writerow([i, a, b, "langevin"])


def test_diagnose_writes_figure_and_metrics(tmp_path):
    rng = np.random.default_rng(2)
    d = np.where(np.arange(200) % 2 == 0, 1.0, -1.0) + 0.2 * rng.standard_normal(200)
    r = 0.1 + 0.01 * rng.standard_normal(200)
    write_history(tmp_path / "history.csv", d, r)
    assert main(["diagnose", "--history", str(tmp_path / "history.csv"), "--figure", str(tmp_path / "f.png"),
                 "--metrics", str(tmp_path / "m.json"), "--title", "run"]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["label"] == "strong" and len(m["acf_d_st"]) == 21 and len(m["xcorr_lags"]) == 41
    assert (tmp_path / "f.png").stat().st_size > 10000


def test_run_without_iterations_gets_a_figure_not_an_error(tmp_path):
    (tmp_path / "h.csv").write_text("iteration,d_st,r_t\n")  # a run that diverged at once
    s = diagnose(tmp_path / "h.csv", tmp_path / "f.png", tmp_path / "m.json")
    assert s["label"] == "too_short" and (tmp_path / "f.png").exists()
    m = json.loads((tmp_path / "m.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert m["acf_d_st"][0] is None  # undefined correlations are null, not NaN


def test_missing_column_is_one_line(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("iteration,loss\n0,1.0\n")
    assert main(["diagnose", "--history", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no column 'd_st'" in err and "\n" not in err
    with pytest.raises(ConfigError, match="burn_in must lie in"):
        diagnose(tmp_path / "h.csv", None, None, burn_in=1.5)


def _run(folder, label, diverged=False, n=400, r_level=0.1, seed=0):
    """A run folder: history.csv with weak (white) or strong (alternating) d_st, metrics.json's flag."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    d = white if label == "weak" else np.where(np.arange(n) % 2 == 0, 1.0, -1.0) + 0.3 * white
    folder.mkdir(parents=True)
    write_history(folder / "history.csv", d, r_level + 0.001 * rng.standard_normal(n))
    (folder / "metrics.json").write_text(json.dumps({"diverged": "iteration 9: ..." if diverged else None}))
    return folder / "history.csv"


def test_diagnose_records_the_outcome(tmp_path):
    assert diagnose(_run(tmp_path / "a", "weak"), None, None)["outcome"] == "convergent"
    assert diagnose(_run(tmp_path / "b", "weak", diverged=True), None, None)["outcome"] == "diverged"
    (tmp_path / "c").mkdir()
    write_history(tmp_path / "c" / "history.csv", [0.1, -0.2, float("nan"), 0.3, -0.1], [0.1] * 5)
    assert diagnose(tmp_path / "c" / "history.csv", None, None)["diverged"]   # a non-finite log


def test_diagnose_reads_a_trainer_checkpoint(tmp_path):
    rng = np.random.default_rng(3)
    hist = [{"iteration": i, "d_st": float(v), "r_t": 0.1} for i, v in enumerate(rng.standard_normal(100))]
    torch.save({"trainer": {"history": hist}, "diverged": None}, tmp_path / "200.pt")
    s = diagnose(tmp_path / "200.pt", None, None)
    assert s["label"] == "weak" and s["iterations"] == 100 and s["outcome"] == "convergent"
    torch.save({"trainer": {"history": [{"iteration": 0, "loss": 1.0}]}}, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="logs no d_st"):
        diagnose(tmp_path / "bad.pt", None, None)


def _summary(tmp_path, runs, eps=None):
    metrics, names = [], []
    for i, (label, diverged, r_level) in enumerate(runs):
        h = _run(tmp_path / f"r{i}", label, diverged, r_level=r_level, seed=10 + i)
        diagnose(h, None, tmp_path / f"r{i}.json")
        metrics.append(str(tmp_path / f"r{i}.json"))
        names.append(f"r{i}")
    args = ["summary", "--metrics", *metrics, "--runs", *names, "--study", "s", "--profile", "t",
            "--csv", str(tmp_path / "s.csv"), "--claims", str(tmp_path / "c.csv"), "--figure", str(tmp_path / "s.png")]
    assert main(args + (["--eps", str(eps)] if eps is not None else [])) == 0
    with open(tmp_path / "c.csv", newline="") as fh:
        return {r["claim"]: r["verdict"] for r in csv.DictReader(fh)}


@pytest.mark.parametrize("runs,eps,n1,n2", [
    ([("weak", False, 0.1), ("strong", True, 0.1)], 0.015, "reproduced", "reproduced"),
    ([("strong", False, 0.1), ("weak", True, 0.1)], 0.015, "not reproduced", "reproduced"),
    ([("weak", False, 0.5), ("weak", False, 0.1)], 0.015, "inconclusive", "not reproduced"),   # no diverged run
    ([("weak", False, 0.1), ("strong", True, 0.1)], 0.005, "reproduced", "inconclusive"),     # range is for 0.015
    ([("weak", False, 0.1)], None, "inconclusive", "inconclusive"),
])
def test_summary_judges_the_appendix_claims_from_the_runs(tmp_path, runs, eps, n1, n2):
    v = _summary(tmp_path, runs, eps)
    assert v == {"N1": n1, "N2": n2}
    with open(tmp_path / "s.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["outcome"] for r in rows] == ["diverged" if d else "convergent" for _, d, _ in runs]
    assert [r["oscillation"] for r in rows] == [label for label, _, _ in runs]
    assert float(rows[0]["r_t_tail_mean"]) == pytest.approx(runs[0][2], abs=0.01)
    assert (tmp_path / "s.png").stat().st_size > 5000


def test_pool_judges_the_claims_over_several_studies(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert _summary(a, [("weak", False, 0.1)], 0.015)["N1"] == "inconclusive"   # no diverged run in a
    assert _summary(b, [("strong", True, 0.2)])["N1"] == "inconclusive"          # no convergent run in b
    out = tmp_path / "pooled.csv"
    assert main(["pool", "--tables", str(a / "s.csv"), str(b / "s.csv"), "--profile", "t",
                 "--claims", str(out)]) == 0
    with open(out, newline="") as fh:
        v = {r["claim"]: r for r in csv.DictReader(fh)}
    assert v["N1"]["verdict"] == "reproduced"        # together both sides are there
    assert v["N2"]["verdict"] == "reproduced"        # a's convergent run at eps 0.015 is in range
    assert "eps = 0.015" in v["N2"]["evidence"]


def test_summary_needs_one_name_per_run(tmp_path, capsys):
    assert main(["summary", "--metrics", "a.json", "b.json", "--runs", "a", "--study", "s", "--profile", "t",
                 "--csv", str(tmp_path / "s.csv")]) == 2
    assert "--metrics names 2 files but --runs 1" in capsys.readouterr().err


def test_jobs_table_imports_no_torch():
    code = "import ebmlab.studies.nijkamp.jobs, ebmlab.diagnostics, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_history_is_one_line(tmp_path, capsys):
    assert main(["diagnose", "--history", str(tmp_path / "nope.csv")]) == 2
    assert "missing input" in capsys.readouterr().err


class Quadratic(nn.Module):
    def forward(self, x):
        return 0.5 * (x ** 2).flatten(1).sum(1)


def test_rescaled_energy_langevin_is_eq_2A():
    """Langevin on U = F / (eps^2/2) with step eps^2/2 and noise eps is x - grad F + eps z."""
    eps = 0.1
    u = ScaledEnergy(Quadratic(), eps)
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    s = samplers.build("langevin", step_size=eps ** 2 / 2, noise_std=eps)
    out = s.run(u, x0, 1, generator=torch.Generator().manual_seed(1)).x
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out, x0 - x0 + eps * z, atol=1e-6)  # grad F(x) = x
    assert s.config.implied_temperature == pytest.approx(1.0)


def test_learning_rate_scaling_annealing_and_data_noise():
    assert scaled_lr(5e-4, 0.015) == pytest.approx(0.015 ** 2 / 2 * 5e-4)
    assert data_noise_std(0.015) == pytest.approx(0.03)
    cfg = LRAnnealConfig(start=0.05, end=5e-4, iterations=100)
    assert annealed_lr(cfg, 0) == pytest.approx(0.05)
    assert annealed_lr(cfg, 50) == pytest.approx(math.sqrt(0.05 * 5e-4))
    assert annealed_lr(cfg, 100) == annealed_lr(cfg, 1000) == pytest.approx(5e-4)
    with pytest.raises(ConfigError, match="must not exceed start"):
        from ebmlab.config import from_dict
        from_dict(LRAnnealConfig, {"start": 0.001, "end": 0.01})


def test_annealing_hook_sets_the_next_rate():
    class FakeTrainer:
        opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.05)

    hook = lr_annealing_hook(LRAnnealConfig(start=0.05, end=5e-4, iterations=100), scale=2.0)
    row = hook(FakeTrainer, 49)
    assert FakeTrainer.opt.param_groups[0]["lr"] == pytest.approx(2 * math.sqrt(0.05 * 5e-4))
    assert row == {"lr_next": FakeTrainer.opt.param_groups[0]["lr"]}
