"""Faults a run survives or refuses in one line (issue 18): corrupt checkpoints (moved aside,
resumed from the previous checkpoint or from scratch), corrupt data and model files, non-finite
settings, ``--out`` at a file, downloads without network, divergence in record mode."""

import json
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from ebmlab.config import from_dict
from ebmlab.data.images import ImageDataConfig, load_images
from ebmlab.errors import ConfigError, DataError
from ebmlab.studies.gmm.__main__ import main as gmm_main
from ebmlab.train.checkpoint import CheckpointStore
from ebmlab.train.image import ImageTrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY_GMM = {"label": "mala", "sampler": {"name": "mala", "step_size": 0.01},
            "train": {"epochs": 4, "steps": 20, "checkpoint_every": 2, "lr": 0.01},
            "model": {"hidden": [8, 8]}, "rhat": {"steps": 40}, "figures": {"resolution": 12}}


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # random bytes of the same length
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())


def err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def gmm(cmd: str, out: Path, config=None) -> int:
    return gmm_main([cmd, "--config", json.dumps(config or TINY_GMM), "--job", "mala/seed0", "--out", str(out)])


def model_weights(path: Path) -> dict:
    return torch.load(path, weights_only=False)["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------
# corrupt checkpoints

@pytest.fixture(scope="module")
def gmm_reference(tmp_path_factory):
    n = torch.get_num_threads()
    out = tmp_path_factory.mktemp("ref") / "mala"
    try:
        assert gmm("train", out) == 0
    finally:
        torch.set_num_threads(n)
    return out


@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_gmm_corrupt_checkpoint_resumes_from_the_previous_one(tmp_path, capsys, keep_threads, gmm_reference, how):
    out = tmp_path / "mala"
    assert gmm("train", out) == 0
    ckpt = out / "ckpt"
    assert torch.load(ckpt / "prev.pt", weights_only=False)["epoch"] == 2   # the one before is kept
    assert torch.load(ckpt / "last.pt", weights_only=False)["epoch"] == 4
    corrupt(ckpt / "last.pt", how)
    capsys.readouterr()
    assert gmm("train", out) == 0
    (line,) = err_lines(capsys)
    assert line.startswith(f"warning: unreadable checkpoint {ckpt / 'last.pt'} (")
    assert line.endswith(f"), moved aside to last.pt.corrupt; resuming from the previous checkpoint "
                         f"{ckpt / 'prev.pt'} (after epoch 2)")
    assert (ckpt / "last.pt.corrupt").exists()
    assert torch.load(ckpt / "last.pt", weights_only=False)["epoch"] == 4
    # the resume is exact: the same model as a run that was never interrupted
    assert same(model_weights(out / "model.pt"), model_weights(gmm_reference / "model.pt"))
    assert "resumed_from_epoch: 2" in (out / "train.run.yaml").read_text()


def test_gmm_corrupt_checkpoints_restart_from_scratch(tmp_path, capsys, keep_threads, gmm_reference):
    out = tmp_path / "mala"
    assert gmm("train", out) == 0
    ckpt = out / "ckpt"
    corrupt(ckpt / "last.pt", "truncated")
    corrupt(ckpt / "prev.pt", "random")
    capsys.readouterr()
    assert gmm("train", out) == 0
    (line,) = err_lines(capsys)
    assert line.startswith(f"warning: unreadable checkpoint {ckpt / 'last.pt'} (")
    assert f"; unreadable checkpoint {ckpt / 'prev.pt'} (" in line
    assert line.endswith("), moved aside to prev.pt.corrupt; starting from scratch")
    assert (ckpt / "last.pt.corrupt").exists() and (ckpt / "prev.pt.corrupt").exists()
    assert same(model_weights(out / "model.pt"), model_weights(gmm_reference / "model.pt"))
    assert "resumed_from_epoch: 0" in (out / "train.run.yaml").read_text()
    # a second corruption replaces the older .corrupt file
    corrupt(ckpt / "last.pt", "empty")
    assert gmm("train", out) == 0
    assert (ckpt / "last.pt.corrupt").stat().st_size == 0


def test_gmm_corrupt_model_file_is_one_line_and_moved_aside(tmp_path, capsys, keep_threads):
    out = tmp_path / "mala"
    assert gmm("train", out) == 0
    corrupt(out / "model.pt", "truncated")
    capsys.readouterr()
    assert gmm("evaluate", out) == 2
    (line,) = err_lines(capsys)
    assert line.startswith(f"error: corrupt model file {out / 'model.pt'} (")
    assert line.endswith("); moved aside to model.pt.corrupt: run 'train' first")
    assert not (out / "model.pt").exists() and (out / "model.pt.corrupt").exists()
    assert gmm("train", out) == 0 and gmm("evaluate", out) == 0   # the rerun rebuilds it from the checkpoint


def image_trainer(tmp, **train):
    from test_image_train import trainer
    return trainer(tmp, epochs=3, **train)   # 12 iterations, checkpoints after 4, 8 and 12


@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_image_trainer_recovers_from_a_corrupt_checkpoint(tmp_path, capsys, how):
    ref = image_trainer(tmp_path / "ref")
    ref.train()
    t = image_trainer(tmp_path / "run")
    t.train()
    corrupt(tmp_path / "run" / "last.pt", how)
    capsys.readouterr()
    again = image_trainer(tmp_path / "run")
    result = again.train()
    (line,) = err_lines(capsys)
    assert line.startswith(f"warning: unreadable checkpoint {tmp_path / 'run' / 'last.pt'} (")
    assert line.endswith(f"resuming from the previous checkpoint {tmp_path / 'run' / 'prev.pt'} "
                         f"(after iteration 8)")
    assert result.resumed_from == 8 and (tmp_path / "run" / "last.pt.corrupt").exists()
    assert same(again.model.state_dict(), ref.model.state_dict())
    # both damaged: from scratch, said so, and still the same final state
    corrupt(tmp_path / "run" / "last.pt", how)
    corrupt(tmp_path / "run" / "prev.pt", "truncated")
    fresh = image_trainer(tmp_path / "run")
    assert fresh.train().resumed_from == 0
    (line,) = err_lines(capsys)
    assert line.endswith("starting from scratch")
    assert same(fresh.model.state_dict(), ref.model.state_dict())


def test_checkpoint_of_another_config_is_ignored_and_a_lost_last_falls_back_to_prev(tmp_path):
    store = CheckpointStore(tmp_path, "a")
    store.save({"iteration": 1})
    store.save({"iteration": 2})
    assert store.load()["iteration"] == 2 and CheckpointStore(tmp_path, "b").load() is None
    (tmp_path / "last.pt").unlink()   # killed between the two renames of a save
    assert store.load()["iteration"] == 1


# ---------------------------------------------------------------------------
# corrupt data files

@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
def test_corrupt_npz_is_one_data_error_naming_the_file(tmp_path, capsys, how):
    src = ROOT / "data/embedded/mnist10k.npz"
    bad = tmp_path / "mnist10k.npz"
    data = bytearray(src.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray()
    bad.write_bytes(bytes(data))
    cfg = from_dict(ImageDataConfig, {"name": "mnist", "path": str(bad)}, "data")
    with pytest.raises(DataError) as err:
        load_images(cfg)
    msg = str(err.value)
    assert msg.startswith(f"cannot read {bad} as .npz (") and "\n" not in msg
    from ebmlab.data.__main__ import main as data_main
    assert data_main(["info", "--config", json.dumps({"name": "mnist", "path": str(bad)})]) == 2
    (line,) = err_lines(capsys)
    assert line == f"error: {msg}"


# ---------------------------------------------------------------------------
# non-finite settings, --out at a file

@pytest.mark.parametrize("value,shown", [(float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"),
                                         ("inf", "inf"), ("nan", "nan")])
def test_non_finite_numbers_are_refused_by_the_config(value, shown):
    with pytest.raises(ConfigError) as err:
        from_dict(ImageTrainConfig, {"lr": value}, "train")
    assert str(err.value) == f"train.lr: must be a finite number, got {shown}"
    with pytest.raises(ConfigError, match=f"^train.betas\\[1\\]: must be a finite number, got {shown}$"):
        from_dict(ImageTrainConfig, {"betas": [0.0, value]}, "train")


def test_non_finite_step_size_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "o"
    assert gmm_main(["train", "--params", str(ROOT / "params/smoke.yaml"), "--section", "gmm", "--job", "mala/seed0",
                     "--set", "samplers.mala.step_size=.inf", "--out", str(out)]) == 2
    assert err_lines(capsys) == ["error: samplers.mala.step_size: must be a finite number, got inf"]
    assert not out.exists()


def test_out_at_a_file_is_one_line_before_any_compute(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("keep me")
    assert gmm("train", f) == 2
    assert err_lines(capsys) == [f"error: --out {f} is a file, not a folder"]
    assert gmm("train", f / "sub") == 2
    assert err_lines(capsys) == [f"error: --out {f / 'sub'} lies under the file {f}, not a folder"]
    assert f.read_text() == "keep me"
    from ebmlab.studies.gmm.__main__ import main
    assert main(["figures", "--runs", str(tmp_path), "--out-dir", str(f)]) == 2
    assert err_lines(capsys) == [f"error: --out-dir {f} is a file, not a folder"]


# ---------------------------------------------------------------------------
# downloads without network

def _offline(*args, **kwargs):
    raise urllib.error.URLError(OSError(101, "Network is unreachable"))


def test_data_fetch_without_network_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import ebmlab.data.images as images
    from ebmlab.data.__main__ import main as data_main
    monkeypatch.setattr(images, "_open_torchvision", _offline)
    root = tmp_path / "data" / "raw"
    assert data_main(["fetch", "cifar10", "--root", str(root)]) == 2
    (line,) = err_lines(capsys)
    assert line.startswith(f"error: cannot download cifar10 into {root / 'cifar10'} (URLError: ")
    assert "needs network" in line
    assert list(tmp_path.iterdir()) == []
    (root / "cifar10").mkdir(parents=True)   # an existing folder stays
    assert data_main(["fetch", "cifar10", "--root", str(root)]) == 2
    assert (root / "cifar10").is_dir()


def test_fid_weights_fetch_without_network_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import ebmlab.metrics.fid as fidmod
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(fidmod.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    assert fidmod.main(["weights", "--fetch"]) == 2
    (line,) = err_lines(capsys)
    assert line.startswith("error: cannot download the FID Inception weights from https://") and "needs network" in line
    assert not (tmp_path / "data").exists()


def test_corrupt_reference_statistics_are_recomputed(tmp_path, capsys):
    import ebmlab.metrics.fid as fidmod
    args = ["reference", "--config", "{data: {name: digits8, size: 8}, extractor: inception_standin, n: 20, "
            "device: cpu}", "--cache-dir", str(tmp_path)]
    n = torch.get_num_threads()
    try:
        assert fidmod.main(args) == 0
        (cache,) = tmp_path.glob("digits8-*.npz")
        good = cache.read_bytes()
        corrupt(cache, "truncated")
        capsys.readouterr()
        assert fidmod.main(args) == 0
    finally:
        torch.set_num_threads(n)
    warning = [line for line in err_lines(capsys) if line.startswith("warning:")]
    assert len(warning) == 1 and f"unreadable reference statistics {cache} (" in warning[0]
    assert warning[0].endswith("; recomputing them")
    assert os.path.exists(str(cache) + ".corrupt") and cache.read_bytes() == good


# ---------------------------------------------------------------------------
# divergence in record mode: one line on stderr, the last good state saved

def _diverge_at(cls, monkeypatch, at):
    """Make ``cls.step`` diverge at 0-based iteration ``at`` (as its own guard would)."""
    step = cls.step

    def patched(self, it):
        if it == at:
            raise self._diverged(it, "loss=1e+09, max|E|=1e+09 (limit 1000)")
        return step(self, it)

    monkeypatch.setattr(cls, "step", patched)


def test_image_trainer_records_the_divergence_and_restores_the_last_good_checkpoint(tmp_path, capsys,
                                                                                  monkeypatch):
    from ebmlab.train.image import ImageTrainer, train_or_record
    _diverge_at(ImageTrainer, monkeypatch, 6)   # the seventh iteration; checkpoint after the fourth
    t = image_trainer(tmp_path)
    result, message = train_or_record(t, "record")
    assert result is None
    (line,) = err_lines(capsys)
    assert line == (f"diverged (recorded; on_diverge: record): iteration 7: loss=1e+09, max|E|=1e+09 (limit 1000); "
                    f"last good checkpoint: {tmp_path / 'last.pt'} (after iteration 4)")
    assert line.endswith(f"record): {message}") and t.iteration == 6
    assert t.restore_last_good() == f"{tmp_path / 'last.pt'} (after iteration 4)"
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert t.iteration == 4 and len(t.history) == 4 and same(t.model.state_dict(), saved["model"])


def test_without_a_checkpoint_the_last_good_state_is_the_starting_weights(capsys, monkeypatch):
    from test_image_train import trainer
    from ebmlab.train.image import ImageTrainer, train_or_record
    _diverge_at(ImageTrainer, monkeypatch, 2)
    t = trainer(None, epochs=3)
    start = {k: v.clone() for k, v in t.model.state_dict().items()}
    assert train_or_record(t, "record")[0] is None
    (line,) = err_lines(capsys)
    assert line.startswith("diverged (recorded; on_diverge: record): iteration 3: ")
    assert line.endswith("last good checkpoint: none")
    assert not same(t.model.state_dict(), start)
    assert t.restore_last_good() == "the weights training started from (after iteration 0)"
    assert same(t.model.state_dict(), start) and t.iteration == 0 and t.history == []
    with pytest.raises(Exception, match="^iteration 3: "):
        train_or_record(trainer(None, epochs=3), "fail")


def test_cd_vs_nll_record_mode_says_it_and_saves_the_last_good_model(tmp_path, capsys, monkeypatch, keep_threads):
    from test_cd_vs_nll import DIGITS, study_file
    from ebmlab.studies.cd_vs_nll.__main__ import main
    from ebmlab.train.image import ImageTrainer
    _diverge_at(ImageTrainer, monkeypatch, 3)
    cfg = study_file(tmp_path, {"device": "cpu", "data": DIGITS, "model": {"name": "gagnon_mnist", "width": 2,
                                "latent": 4}, "train": {"max_iterations": 6, "batch_size": 16, "buffer_size": 50,
                                                        "checkpoint_every": 2}})
    out = tmp_path / "nll"
    assert main(["train", "--params", cfg, "--job", "nll/seed0", "--out", str(out)]) == 0
    (line,) = err_lines(capsys)
    assert line.startswith("diverged (recorded; on_diverge: record): iteration 4: ")
    assert line.endswith(f"last good checkpoint: {out / 'ckpt' / 'last.pt'} (after iteration 2)")
    saved = torch.load(out / "model.pt", weights_only=False)
    assert saved["iteration"] == 2 and saved["diverged"].startswith("iteration 4: ")
    assert same(saved["model"], torch.load(out / "ckpt" / "last.pt", weights_only=False)["model"])
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 3   # the curves up to the divergence


def test_jem_record_mode_says_it_and_saves_the_last_good_model(tmp_path, capsys, monkeypatch, keep_threads):
    from test_jem_study import train
    from ebmlab.train.jem import JEMTrainer
    _diverge_at(JEMTrainer, monkeypatch, 4)
    code, out = train(tmp_path, "sgld")
    assert code == 0
    (line,) = [x for x in err_lines(capsys) if x.startswith("diverged")]
    assert line.startswith("diverged (recorded; on_diverge: record): iteration 5: ")
    assert line.endswith(f"last good checkpoint: {out / 'ckpt' / 'last.pt'} (after iteration 3)")
    saved = torch.load(out / "model.pt", weights_only=False)
    assert saved["iteration"] == 3
    assert same(saved["model"], torch.load(out / "ckpt" / "last.pt", weights_only=False)["model"])


def test_table4_1_record_mode_says_it_and_saves_the_last_good_model(tmp_path, capsys, monkeypatch, keep_threads):
    import json
    from test_table4_1 import TINY, cell_json
    from ebmlab.studies.table4_1 import jobs
    from ebmlab.studies.table4_1.__main__ import main
    from ebmlab.train.image import ImageTrainer
    ref, out = tmp_path / "ref", tmp_path / "cell"
    assert main(["reference", "--config", json.dumps(jobs.reference_slice(TINY, "cifar10")), "--job", "cifar10",
                 "--ref-dir", str(ref)]) == 0
    study = json.loads(json.dumps(TINY))
    study["train"] = {**study["train"], "max_iterations": 6}
    _diverge_at(ImageTrainer, monkeypatch, 3)
    capsys.readouterr()
    assert main(["cell", "--config", cell_json(study), "--job", "cifar10/mala/seed0", "--out", str(out),
                 "--ref-dir", str(ref)]) == 0
    (line,) = [x for x in err_lines(capsys) if x.startswith("diverged")]
    assert line.startswith("diverged (recorded; on_diverge: record): iteration 4: ")
    assert line.endswith(f"last good checkpoint: {out / 'ckpt' / 'last.pt'} (after iteration 2)")
    saved = torch.load(out / "model.pt", weights_only=False)
    assert saved["iteration"] == 2 and saved["diverged"].startswith("iteration 4: ")
    assert same(saved["model"], torch.load(out / "ckpt" / "last.pt", weights_only=False)["model"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["diverged"].startswith("iteration 4: ") and m["model_state"].endswith("(after iteration 2)")
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 3   # the curves up to the divergence


def test_stanley_rings_divergence_says_it_and_saves_the_last_good_model(tmp_path, capsys, monkeypatch,
                                                                       keep_threads):
    from ebmlab.studies.stanley.config import RingsRun
    from ebmlab.studies.stanley.run import rings_run
    from ebmlab.train.image import ImageTrainer
    _diverge_at(ImageTrainer, monkeypatch, 3)
    run = from_dict(RingsRun, {"iterations": 5, "model": {"name": "convnet", "channels": [4, 4, 4, 4]},
                               "train": {"batch_size": 8, "steps": 2, "checkpoint_every": 2, "init": "short_run",
                                         "start_noise": "gaussian", "start_noise_std": 2.0, "alpha": 0.0},
                               "data": {"n_train": 32}, "plot_every": 100, "eval_every": 100, "eval_samples": 16,
                               "label": "langevin", "sampler": {"name": "langevin"}}, "rings")
    out = tmp_path / "langevin"
    rings_run(run, out)
    (line,) = err_lines(capsys)
    assert line.startswith("diverged (recorded; on_diverge: record): iteration 4: ")
    assert line.endswith(f"last good checkpoint: {out / 'ckpt' / 'last.pt'} (after iteration 2)")
    saved = torch.load(out / "model.pt", weights_only=False)
    assert saved["iteration"] == 2
    assert same(saved["model"], torch.load(out / "ckpt" / "last.pt", weights_only=False)["model"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["iterations"] == 3 and m["diverged"].startswith("iteration 4: ")


def test_corrupt_samples_file_stops_the_figures_in_one_line(tmp_path, capsys, keep_threads):
    out = tmp_path / "mala"
    assert gmm("train", out) == 0 and gmm("evaluate", out) == 0
    corrupt(out / "samples.npz", "truncated")
    capsys.readouterr()
    assert gmm_main(["figures", "--runs", str(out), "--out-dir", str(tmp_path / "fig")]) == 2
    (line,) = err_lines(capsys)
    assert line.startswith(f"error: corrupt file {out / 'samples.npz'} (")
    assert line.endswith("); moved aside to samples.npz.corrupt: run 'evaluate' first")


def test_saved_files_hold_no_temporary_names(tmp_path):
    """The same state saved twice, to different files, gives the same bytes (issue 18, item 6)."""
    import zipfile
    from ebmlab.io import atomic_torch_save
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "iteration": 3}
    atomic_torch_save(state, tmp_path / "a.pt")
    atomic_torch_save(state, tmp_path / "b" / "model.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert {n.split("/")[0] for n in zipfile.ZipFile(tmp_path / "a.pt").namelist()} == {"archive"}
    store_a, store_b = CheckpointStore(tmp_path / "ca", "h"), CheckpointStore(tmp_path / "cb", "h")
    for store in (store_a, store_b):
        store.save(state)
        store.save({**state, "iteration": 4})
    for name in ("last.pt", "prev.pt"):
        assert (tmp_path / "ca" / name).read_bytes() == (tmp_path / "cb" / name).read_bytes()


def test_load_torch_moves_a_damaged_file_aside(tmp_path):
    from ebmlab.io import atomic_torch_save, load_torch
    path = tmp_path / "seg" / "40.pt"
    atomic_torch_save({"iteration": 40}, path)
    assert load_torch(path)["iteration"] == 40
    corrupt(path, "random")
    with pytest.raises(DataError) as err:
        load_torch(path, "run the previous segment first", what="segment checkpoint")
    msg = str(err.value)
    assert msg.startswith(f"corrupt segment checkpoint {path} (") and "\n" not in msg
    assert msg.endswith("); moved aside to 40.pt.corrupt: run the previous segment first")
    assert not path.exists() and (tmp_path / "seg" / "40.pt.corrupt").exists()
    with pytest.raises(DataError, match=f"^missing input {path}: run the previous segment first$"):
        load_torch(path, "run the previous segment first")


def test_a_gmm_rerun_rewrites_its_result_files_byte_for_byte(tmp_path, keep_threads):
    """Issue 18, item 6: wall times go to gmm_timing.csv and the run records only."""
    compare = {"energy": "true", "compare_seed": 0, "rhat": {"steps": 40}, "samplers": {"mala": TINY_GMM["sampler"]},
               "compare": {"seeds": [0], "exact_draws": 100, "mmd_points": 100, "reference": {}}}
    results = {}
    for copy in ("a", "b"):
        root = tmp_path / copy
        out, cmp = root / "mala" / "seed0", root / "compare" / "true" / "seed0"
        assert gmm("train", out) == 0 and gmm("evaluate", out) == 0
        assert gmm_main(["compare", "--config", json.dumps(compare), "--job", "true/seed0", "--out", str(cmp)]) == 0
        assert gmm_main(["table", "--runs", str(out), "--compare", str(cmp), "--profile", "smoke",
                         "--csv", str(root / "t.csv"), "--claims", str(root / "c.csv"), "--metrics", str(root / "m.json"),
                         "--timing", str(root / "timing.csv")]) == 0
        assert gmm_main(["samplers", "--compare", str(cmp), "--profile", "smoke", "--csv", str(root / "s.csv")]) == 0
        assert gmm_main(["figures", "--runs", str(out), "--out-dir", str(root / "fig")]) == 0
        files = ["mala/seed0/model.pt", "mala/seed0/history.csv", "mala/seed0/rhat.json", "mala/seed0/samples.npz",
                 "compare/true/seed0/compare.json", "t.csv", "s.csv", "c.csv", "m.json", "fig/gmm_data.png",
                 "fig/gmm_mala.png"]
        results[copy] = {f: (root / f).read_bytes() for f in files}
        timing = (root / "timing.csv").read_text().splitlines()
        assert timing[0] == "job,profile,train_wall_seconds,eval_wall_seconds,compare_wall_seconds"
        assert timing[1].startswith("mala/seed0,smoke,") and timing[2].startswith("compare/true/seed0,smoke,")
    for f, data in results["a"].items():
        assert data == results["b"][f], f
    assert "wall" not in results["a"]["t.csv"].decode() + results["a"]["m.json"].decode()
    assert "seconds" not in results["a"]["mala/seed0/history.csv"].decode() + results["a"]["mala/seed0/rhat.json"].decode()
    assert "seconds" not in results["a"]["compare/true/seed0/compare.json"].decode()


def _table4_1_cell(root: Path, run: str, seed: int, score: float, secs: float) -> str:
    """A Table 4.1 cell's folder as the 'cell' step leaves it (metrics.json, history.csv); ``secs``
    sets every wall time in it, as a rerun on another machine would."""
    from ebmlab.report import csv_text
    out = root / "mnist" / run / f"seed{seed}"
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps({
        "dataset": "mnist", "run": run, "seed": seed, "sampler": run.split("_")[0],
        "sampler_config": {"step_size": 100.0}, "scores": {"classifier": score},
        "extractors": {"classifier": "classifier:mnist"}, "n_fid_samples": 100, "fid_source": "buffer",
        "iterations": 4, "iterations_planned": 4, "epochs": 1.0, "seconds_per_iteration": secs,
        "train_wall_seconds": 4 * secs, "accept_prob_final": 0.9, "precond_mean_final": None, "diverged": None,
        "data": "digits8", "noise_std": 0.01, "device": "cpu"}))
    hist = [{"iteration": i, "loss": 0.1 * i, "accept_prob_mean": 0.9, "seconds": secs * (1 + i)} for i in range(4)]
    (out / "history.csv").write_text(csv_text(hist, list(hist[0])))
    return str(out)


def test_a_table4_1_rerun_rewrites_its_result_files_byte_for_byte(tmp_path):
    """Issue 18, item 6: cells whose wall times differ (a rerun) give the same table, cells table,
    claims and metrics; the wall times are in the timing tables only, one row per cell."""
    from ebmlab.studies.base import TIMING_COLUMNS
    from ebmlab.studies.table4_1.__main__ import main as t41_main
    cells = [("langevin", 0, 10.0), ("langevin", 1, 12.0), ("mala", 0, 30.0), ("psgld", 0, 20.0),
             ("step_langevin_h1_fixed", 0, 11.0)]
    results = {}
    for copy, secs in (("a", 0.25), ("b", 0.75)):
        root = tmp_path / copy
        dirs = [_table4_1_cell(root / "runs", run, seed, score, secs) for run, seed, score in cells]
        table_dirs = [d for d in dirs if "/step_" not in d]
        assert t41_main(["table", "--runs", *table_dirs, "--profile", "smoke", "--csv", str(root / "t.csv"),
                         "--metrics", str(root / "t.json"), "--claims", str(root / "c.csv"),
                         "--timing", str(root / "t_timing.csv")]) == 0
        assert t41_main(["cells", "--runs", *dirs, "--profile", "smoke", "--csv", str(root / "cells.csv"),
                         "--metrics", str(root / "cells.json"), "--timing", str(root / "cells_timing.csv")]) == 0
        results[copy] = {f: (root / f).read_bytes() for f in ("t.csv", "t.json", "c.csv", "cells.csv", "cells.json")}
        for name, n in (("t_timing.csv", len(table_dirs)), ("cells_timing.csv", len(dirs))):
            lines = (root / name).read_text().splitlines()
            assert lines[0] == ",".join(TIMING_COLUMNS) and len(lines) == 1 + n
            for line, (run, seed, _) in zip(lines[1:], [c for c in cells if n == len(dirs) or "step_" not in c[0]]):
                job, profile, spi, wall = line.split(",")
                assert (job, profile, float(spi), float(wall)) == (f"mnist/{run}/seed{seed}", "smoke", secs, 4 * secs)
    for f, data in results["a"].items():
        assert data == results["b"][f], f
        assert b"seconds" not in data and b"wall" not in data, f
