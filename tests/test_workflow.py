"""The Snakemake layer: parse-time validation stops bad params before any job; every figure is in the report."""

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake")
pytestmark = pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake not installed")


def dry_run(*extra, cwd=ROOT):
    return subprocess.run([SNAKEMAKE, "-n", "--cores", "1", *extra], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("override,message", [
    ("gmm: {train: {epochz: 3}}", "params/smoke.yaml: gmm.train: unknown key 'epochz'"),
    ("gmm: {train: {epochs: -3}}", "params/smoke.yaml: gmm.train.epochs: -3 is less than the minimum of 1"),
    ("gmm: {samplers: {gd: {name: nuts}}}",
     "params/smoke.yaml: gmm.samplers.gd.name: 'nuts' is not one of ['gd', 'hmc', 'langevin', 'mala', "
     "'psgld', 'rwmh', 'sgld', 'stanley', 'tempered_mala']"),
    ("gmm: {samplers: {gd: {name: gd, step_size: fast}}}",
     "params/smoke.yaml: gmm.samplers.gd.step_size: 'fast' is not of type 'number'"),
])
def test_bad_params_stop_the_dag(tmp_path, override, message):
    bad = tmp_path / "override.yaml"
    bad.write_text(override + "\n")
    r = dry_run("--configfile", str(bad), "--config", "profile=smoke")
    assert r.returncode != 0
    assert message in r.stdout + r.stderr


def test_unknown_profile():
    r = dry_run("--config", "profile=huge")
    assert r.returncode != 0
    assert "unknown profile 'huge': use --config profile=smoke|fast|paper" in r.stdout + r.stderr


def test_smoke_dag_plans_every_gmm_job():
    r = dry_run("--forceall", "--config", "profile=smoke")
    assert r.returncode == 0, r.stderr
    assert "gmm_train" in r.stdout and "gmm_table" in r.stdout


def test_local_profile_redoes_incomplete_outputs_and_leaves_cores_to_the_command_line():
    import yaml
    profile = yaml.safe_load((ROOT / "workflow/profiles/local/config.v8+.yaml").read_text())
    assert profile["rerun-incomplete"] is True and profile["keep-going"] is True and "cores" not in profile
    r = dry_run("gmm_table", "--forceall", "--profile", "workflow/profiles/local", "--quiet", "rules", "--config", "profile=smoke")
    assert r.returncode == 0, r.stderr
    assert "gmm_train" in r.stdout + r.stderr


def test_cd_vs_nll_claims_target_builds_every_seed_and_the_nijkamp_diagnostics():
    import yaml
    from ebmlab.studies.cd_vs_nll.jobs import run_labels
    runs = run_labels(yaml.safe_load((ROOT / "params/fast.yaml").read_text())["cd_vs_nll"])
    r = dry_run("reports/fast/mnist_cd_vs_nll_claims.csv", "--forceall", "--config", "profile=fast")
    assert r.returncode == 0, r.stderr
    for run in runs:
        assert f"results/fast/cd_vs_nll/{run}/metrics.json" in r.stdout
        assert f"reports/fast/metrics/nijkamp/cd_vs_nll/{run}.json" in r.stdout
    assert "nll/seed1" in runs and "true_cd/seed1" in runs and "nll_deform/seed1" not in runs
    assert "reports/fast/nijkamp_cd_vs_nll_claims.csv" in r.stdout and "reports/fast/figures/cd_vs_nll" in r.stdout


def test_nijkamp_target_covers_every_image_study():
    r = dry_run("nijkamp", "--forceall", "--config", "profile=fast")
    assert r.returncode == 0, r.stderr
    for study in ("table4_1", "cd_vs_nll", "stanley"):
        assert f"reports/fast/nijkamp_{study}.csv" in r.stdout
    assert "reports/fast/nijkamp_jem" in r.stdout   # section jem_mnist, or jem once renamed
    assert "rule nijkamp_diagnostics_checkpoint" in r.stdout   # STANLEY curves: from their checkpoints
    assert "reports/fast/nijkamp_claims.csv" in r.stdout       # the claims over every study's runs


# Every rule's outputs as Snakemake parses them (report flags included) and what each rule runs,
# one profile per call.
_OUTPUTS = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import get_flag_value, is_flagged
from snakemake.settings.types import ConfigSettings, ResourceSettings
rows, rules = [], []
with SnakemakeApi() as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path("."),
                      config_settings=ConfigSettings(config={"profile": sys.argv[1]}))._workflow
    for rule in wf.rules:
        rules.append({"rule": rule.name, "runs": not rule.norun})
        for f in rule.output:
            rep = get_flag_value(f, "report") if is_flagged(f, "report") else None
            rows.append({"rule": rule.name, "path": str(f), "file": Path(rule.snakefile).stem,
                         "report": rep and {"caption": rep.caption and rep.caption.get_path_or_uri(secret_free=True),
                                            "category": rep.category, "labels": rep.labels}})
print("ROWS" + json.dumps({"outputs": rows, "rules": rules}))
"""


@functools.lru_cache(maxsize=None)
def _parsed(profile):
    r = subprocess.run([sys.executable, "-c", _OUTPUTS, profile], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.split("ROWS", 1)[1])


def rule_outputs(profile):
    """Every output of every rule of ``profile``'s workflow: rule, path, rule file, report flag."""
    return _parsed(profile)["outputs"]


def parsed_rules(profile):
    """Every rule of ``profile``'s workflow: its name and whether it runs anything (a named target does not)."""
    return _parsed(profile)["rules"]


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_every_figure_goes_into_the_report_with_an_existing_caption(profile):
    figures = [o for o in rule_outputs(profile) if o["path"].endswith(".png") and not o["path"].startswith("results/")]
    # every study's figure rules parsed, not an empty workflow
    assert {o["file"] for o in figures} == {"gmm", "table4_1", "jem", "cd_vs_nll", "stanley", "nijkamp"}
    for o in figures:
        rep = o["report"]
        assert rep, f"{o['rule']}: {o['path']} is not marked with report()"
        # the caption folder and the category are the study whose rule file writes the figure
        assert rep["category"] == o["file"], o
        caption = Path(rep["caption"]).resolve()
        assert caption.is_file(), f"{o['rule']}: caption {caption} does not exist"
        assert caption.parent == ROOT / "workflow" / "report" / rep["category"], caption
        assert rep["labels"]["profile"] == profile and rep["labels"]["paper"], o


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_every_job_declares_its_run_record_outside_the_reports(profile):
    """Issue 18, item 7: every rule that runs something declares a ``*.run.yaml`` output (a missing
    record reruns the job); records hold a time and a commit, so none lies under reports/."""
    rules = parsed_rules(profile)
    outputs = rule_outputs(profile)
    records = {}
    for o in outputs:
        if o["path"].endswith(".run.yaml"):
            records.setdefault(o["rule"], []).append(o["path"])
    running = {r["rule"] for r in rules if r["runs"]}
    targets = {r["rule"] for r in rules if not r["runs"]}
    # every study's rules parsed, and the named targets (all, gmm, jem, ...) are all that runs nothing
    assert {"all", "gmm", "stanley", "nijkamp"} <= targets and len(running) > 30
    assert not {o["rule"] for o in outputs} & targets, "a named target with outputs"
    assert sorted(running - set(records)) == [], "rules whose job declares no run record"
    for rule, paths in records.items():
        assert len(paths) == 1, (rule, paths)
        assert paths[0].startswith(f"results/{profile}/"), (rule, paths)


def _planned_jobs(stdout):
    """(rule, inputs, outputs) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"^(?:local)?(?:rule|checkpoint) ", stdout, flags=re.M)[1:]:
        files = {key: re.search(rf"^\s+{key}: (.*)$", block, re.M) for key in ("input", "output")}
        jobs.append((block.split(":", 1)[0], *(m.group(1).split(", ") if m else [] for m in files.values())))
    return jobs


def test_every_run_record_is_asked_for_by_the_targets_so_a_missing_one_reruns_its_job():
    """Snakemake reruns a job for a missing output only when a target asks for it (a deleted
    intermediate file is ignored while what follows it is up to date): each study's named
    target, and rule all, list the record of every job of the study they build."""
    import yaml
    from ebmlab.studies.table4_1.jobs import datasets
    t41 = [f"table4_1_{ds}" for ds in datasets(yaml.safe_load((ROOT / "params/smoke.yaml").read_text())["table4_1"])]
    # target -> the rule-name prefixes of its own jobs (nijkamp's diagnostics read the other
    # studies' runs, whose records are those studies' targets'; CD vs NLL builds its own diagnostics)
    owned = {"all": ("",), "gmm": ("gmm_",), "jem": ("jem_",), "cd_vs_nll": ("cd_vs_nll_", "nijkamp_"),
             "stanley": ("stanley_",), "nijkamp": ("nijkamp_",), **{t: ("table4_1_",) for t in t41}}
    r = dry_run("--forceall", *owned, "--config", "profile=smoke")
    assert r.returncode == 0, r.stderr[-2000:]
    jobs = _planned_jobs(r.stdout)
    producer = {out: i for i, (_, _, outs) in enumerate(jobs) for out in outs}
    for target, prefixes in owned.items():
        asked = set(next(inputs for rule, inputs, outs in jobs if rule == target and not outs))
        seen, todo, missing = set(), [producer[f] for f in asked if f in producer], []
        while todo:   # every job the target builds
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                rule, inputs, outs = jobs[i]
                todo += [producer[f] for f in inputs if f in producer]
                if rule.startswith(prefixes):
                    missing += [o for o in outs if o.endswith(".run.yaml") and o not in asked]
        assert len(seen) > 3 and missing == [], (target, missing[:5])


def test_every_caption_cites_a_figure_names_the_profile_and_renders():
    from collections import defaultdict
    from types import SimpleNamespace

    import jinja2
    from docutils.core import publish_parts
    used = {Path(o["report"]["caption"]).resolve() for p in ("smoke", "fast", "paper") for o in rule_outputs(p) if o["report"]}
    captions = sorted((ROOT / "workflow" / "report").glob("*/*.rst"))
    assert set(captions) == used, f"captions no rule uses: {sorted(map(str, set(captions) - used))}"
    for path in captions:
        text = path.read_text()
        assert re.search(r"\b(Figs?|Table) \d", text), f"{path.name} cites no paper figure or table"
        for profile in ("smoke", "fast", "paper"):
            snakemake = SimpleNamespace(config={"profile": profile}, wildcards=defaultdict(lambda: "mnist"))
            rst = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(snakemake=snakemake)
            html = publish_parts(rst, writer="html", settings_overrides={"halt_level": 2})["body"]
            assert f">{profile}<" in html, path.name   # the profile, rendered as a literal
            assert ("not a reproduction" in html) == (profile == "smoke"), path.name


def dag_outputs(profile):
    """Every file the whole DAG of ``profile`` writes (a forced dry run lists each job's outputs)."""
    r = dry_run("--forceall", "--config", f"profile={profile}")
    assert r.returncode == 0, r.stderr[-2000:]
    return {p for line in r.stdout.splitlines() if line.strip().startswith("output:")
            for p in line.split("output:", 1)[1].replace(" ", "").split(",")}


def dvc_outs():
    """(stage, path relative to the root, Output) of every stage in every dvc.yaml."""
    repo_cls = pytest.importorskip("dvc.repo").Repo
    with repo_cls(str(ROOT)) as repo:
        return [(s.addressing, Path(o.fs_path).relative_to(ROOT).as_posix(), o) for s in repo.index.stages
                for o in s.outs]


def under(path, folders):
    return any(path == f or path.startswith(f + "/") for f in folders)


@pytest.mark.parametrize("profile", ["smoke", "fast", "paper"])
def test_dvc_caches_every_run_folder_plots_every_figure_and_declares_existing_metrics(profile):
    outs = dag_outputs(profile)
    dvc = dvc_outs()
    cached = [p for _, p, o in dvc if o.use_cache and o.persist]
    # checkpoints and models (everything under results/) are DVC-cached stage outputs, not git files
    runs = sorted(p for p in outs if p.startswith(f"results/{profile}/"))
    assert any(p.endswith("model.pt") for p in runs)
    assert [p for p in runs if not under(p, cached)] == []
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *runs[:50]], cwd=ROOT, capture_output=True, text=True)
    assert len(ignored.stdout.split()) == len(runs[:50]), "run folders must be git-ignored"
    # every figure a rule writes sits in a folder some stage declares as plots
    plots = [p for _, p, o in dvc if o.plot]
    figures = sorted(p for p in outs if p.endswith(".png") and p.startswith("reports/"))
    assert figures
    assert [p for p in figures if not under(p, plots)] == []
    # each metrics file belongs to one stage, and the DAG writes it (no stale names)
    metrics = [(stage, p) for stage, p, o in dvc if o.metric]
    mine = [p for _, p in metrics if p.startswith("reports/metrics/" if profile == "paper" else f"reports/{profile}/")]
    assert len({p for _, p in metrics}) == len(metrics), "a metrics file shared by two stages"
    assert mine
    assert [p for p in mine if p not in outs] == []


def _planned_resources(stdout):
    """rule name -> list of its jobs' resources (dicts, integers as int as Snakemake holds them)
    from a dry run's job listing."""
    jobs = {}
    for block in re.split(r"^(?:local)?rule ", stdout, flags=re.M)[1:]:
        name = block.split(":", 1)[0]
        m = re.search(r"^\s+resources: (.*)$", block, re.M)
        res = dict(kv.split("=", 1) for kv in m.group(1).split(", ")) if m else {}
        res = {k: int(v) if v.isdigit() else v for k, v in res.items()}
        jobs.setdefault(name, []).append(res)
    return jobs


class _Resources(dict):
    """A job's resources as the SLURM plugin reads them (attribute and .get access)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def test_slurm_profile_asks_for_gpus_the_way_the_plugin_reads_them(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra
    model = tmp_path / "model.yaml"
    model.write_text("resources: {table4_1: {gpu_model: h100}, gmm: {gpu_model: h100}}\n")
    plain = dry_run("--forceall", "--profile", "workflow/profiles/slurm", "--config", "profile=paper")
    named = dry_run("--forceall", "--profile", "workflow/profiles/slurm", "--configfile", str(model),
                    "--config", "profile=paper")
    assert plain.returncode == 0 and named.returncode == 0, plain.stderr + named.stderr
    assert "slurm_extra" not in plain.stdout and "gpus=" not in plain.stdout
    jobs, jobs_named = _planned_resources(plain.stdout), _planned_resources(named.stdout)

    def sbatch_gpus(res):
        job = SimpleNamespace(resources=_Resources(res))
        validate_slurm_extra(job)  # raises on --gres/--gpus in slurm_extra
        return set_gres_string(job).strip()

    # training jobs of a GPU study: one GPU each, as sbatch --gpus (with the model when named)
    for rule in ("table4_1_cell", "jem_train", "cd_vs_nll_train"):
        assert jobs[rule] and all(r["gpu"] == 1 for r in jobs[rule]), rule
        assert {sbatch_gpus(r) for r in jobs[rule]} == {"--gpus=1"}, rule
    assert {sbatch_gpus(r) for r in jobs_named["table4_1_cell"]} == {"--gpus=h100:1"}
    # the GMM study has gpu: 0, so a model named for it must not turn into a GPU request
    for rules in (jobs, jobs_named):
        assert all(r["gpu"] == 0 and "gpu_model" not in r for r in rules["gmm_train"])
        assert {sbatch_gpus(r) for r in rules["gmm_train"]} == {""}


def test_local_gpu_profile_limits_the_resource_the_rules_declare():
    import yaml
    profile = yaml.safe_load((ROOT / "workflow/profiles/gpu/config.v8+.yaml").read_text())
    assert profile["resources"] == {"gpu": 1}
    r = dry_run("reports/table4_1.csv", "--forceall", "--resources", "gpu=1", "--config", "profile=paper")
    assert r.returncode == 0, r.stderr
    assert all(res["gpu"] == 1 for res in _planned_resources(r.stdout)["table4_1_cell"])
