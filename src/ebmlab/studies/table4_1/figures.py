"""Thesis Figs 4.6-4.11 from the cells of one data set (PNG, headless).

* fig4_6: the score (first metric) every K iterations of the first epoch, per sampler;
* fig4_7: Langevin's MALA acceptance, computed but not applied: per training batch, and
  per chain step at a few iterations;
* fig4_8: the same for MALA, where the test is applied;
* fig4_9: acceptance rate of MALA and tempered MALA over the whole training;
* fig4_10: the score curve of the run that switches from Langevin to MALA, with
  Langevin throughout for comparison;
* fig4_11: pSGLD's mean preconditioner G per training batch, one line per lambda;
* table4_1_samples: the scored samples of every row;
* table4_1_stepsize (beyond the thesis, :func:`write_stepsize`): final acceptance and score
  against the step size h of the sweep's cells, with the study's noise and with sqrt(2h).

The rule passes the first seed's cell of every row (a seed's curves, not a mean: the chains
panels need one run). A panel whose run is not part of the profile says so instead of failing.
"""

from __future__ import annotations

from pathlib import Path

from ebmlab.io import require_file
from ebmlab.plotting import missing, plt, save
from ebmlab.studies.base import RunFolder

# the thesis's colours (Fig 4.6): green SGLD, pink pSGLD, blue tempered MALA, red MALA
COLORS = {"langevin": "tab:green", "psgld": "tab:pink", "tempered_mala": "tab:blue", "mala": "tab:red",
          "mala_exact": "tab:orange"}
FIGURES = ("fig4_6", "fig4_7", "fig4_8", "fig4_9", "fig4_10", "fig4_11", "table4_1_samples")
METRIC_LABELS = {"inception": "FID", "classifier": "classifier Frechet distance (substitute)",
                 "inception_standin": "FID with random-weight Inception (stand-in)"}
HINT = "run the 'cell' step first"


def _curve_key(runs: list[RunFolder]) -> tuple[str | None, str]:
    for r in runs:
        for key in r.history[0] if r.history else {}:
            if key.startswith("curve_"):
                kind = key[len("curve_"):]
                return key, METRIC_LABELS.get(kind, kind)
    return None, "score"


def _plot_curve(ax, runs: list[RunFolder], key: str | None, ylabel: str, title: str) -> None:
    drawn = False
    for r in runs:
        if key is None:
            break
        x, y = r.series(key)
        if x:
            ax.plot(x, y, marker="o", ms=3, color=COLORS.get(r.label), label=r.label)
            drawn = True
    if not drawn:
        missing(ax, "score-curve")
        return
    ax.set_xlabel("training iteration (mini-batch)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def _acceptance(path: Path, run: RunFolder | None, dataset: str, title: str) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    if run is None or not run.series("accept_prob_mean")[0]:
        missing(a, title)
        missing(b, title)
    else:
        x, y = run.series("accept_prob_mean")
        a.plot(x, y, lw=0.8, color=COLORS.get(run.metrics["sampler"]))
        a.set_ylim(-0.02, 1.02)
        a.set_xlabel("training iteration (mini-batch)")
        a.set_ylabel("mean acceptance probability over the chain")
        a.set_title(f"{title}: per training batch ({dataset})")
        logged = [c for c in run.chains or [] if "accept_prob" in c]
        picks = sorted({0, len(logged) // 2, len(logged) - 1}) if logged else []
        for i in picks:
            c = logged[i]
            b.plot(range(1, len(c["accept_prob"]) + 1), c["accept_prob"], label=f"iteration {c['iteration']}")
        b.set_ylim(-0.02, 1.02)
        b.set_xlabel("chain step")
        b.set_ylabel("acceptance probability (mean over chains)")
        b.set_title("within one chain")
        b.legend(fontsize=8)
    save(fig, path)


def _over_training(ax, lines: list[tuple[list, list, str, str | None]], what: str, ylabel: str, title: str,
                   unit: bool = False, log: bool = False) -> None:
    """One line per (iterations, values, label, colour) against the training iteration."""
    lines = [line for line in lines if line[0]]
    if not lines:
        missing(ax, what)
        return
    for x, y, label, color in lines:
        ax.plot(x, y, lw=0.8, color=color, label=label)
    if unit:
        ax.set_ylim(-0.02, 1.02)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("training iteration (mini-batch)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def write_figures(run_dirs: list[str | Path], dataset: str, out_dir: str | Path) -> list[Path]:
    """Figs 4.6-4.11 and the sample grids of the cells of ``dataset`` (<name>_<dataset>.png)."""
    out_dir = Path(out_dir)
    runs = [RunFolder(d, HINT) for d in run_dirs]
    by = {r.label: r for r in runs}
    plain = [r for r in runs if r.metrics.get("switch_to") is None]
    key, ylabel = _curve_key(runs)
    paths = {name: out_dir / f"{name}_{dataset}.png" for name in FIGURES}

    fig, ax = plt.subplots(figsize=(7, 4.5))
    table = [by[k] for k in COLORS if k in by]
    _plot_curve(ax, table, key, ylabel, f"first epoch ({dataset}) - thesis Fig 4.6")
    save(fig, paths["fig4_6"])

    _acceptance(paths["fig4_7"], by.get("langevin"), dataset, "SGLD acceptance, computed not applied (Fig 4.7)")
    _acceptance(paths["fig4_8"], by.get("mala"), dataset, "MALA acceptance, applied (Fig 4.8)")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    mala = [(*by[k].series("accept_rate_mean"), f"{k}: fraction accepted", COLORS[k])
            for k in ("mala", "tempered_mala", "mala_exact") if k in by]
    _over_training(ax, mala, "MALA", "acceptance rate (mean over chain steps)",
                   f"MALA acceptance over training ({dataset}) - thesis Fig 4.9", unit=True)
    save(fig, paths["fig4_9"])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    switched = [r for r in runs if r.metrics.get("switch_to")]
    pair = switched[:1] + ([by["langevin"]] if "langevin" in by else [])
    if switched:
        _plot_curve(ax, pair, key, ylabel, f"SGLD then MALA vs SGLD throughout ({dataset}) - thesis Fig 4.10")
        if ax.has_data():
            ax.axvline(switched[0].metrics["switch_after"], color="0.5", ls="--", lw=0.8)
    else:
        missing(ax, "sampler-switch")
    save(fig, paths["fig4_10"])

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    g_lines, v_lines = [], []
    for r in plain:
        if r.metrics["sampler"] != "psgld":
            continue
        lam = r.metrics["sampler_config"]["lam"]
        g_lines.append((*r.series("precond_mean_mean"), f"lambda = {lam:g}", None))
        x, inv = r.series("precond_inv_mean_mean")   # mean(lambda + sqrt(V))
        v_lines.append((x, [v - lam for v in inv], f"lambda = {lam:g}", None))
    _over_training(a, g_lines, "pSGLD", "mean G = 1 / (lambda + sqrt(V))",
                   f"pSGLD preconditioner ({dataset}) - thesis Fig 4.11", log=True)
    _over_training(b, v_lines, "pSGLD", "mean sqrt(V) (RMS gradient per pixel)",
                   "what lambda is added to", log=True)
    save(fig, paths["fig4_11"])

    cols = min(3, len(runs))
    rows = (len(runs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, runs):
        ax.imshow(plt.imread(require_file(r.folder / "samples.png", HINT)))
        ax.set_title(f"{r.label} ({r.metrics['n_fid_samples']} scored)", fontsize=9)
    fig.suptitle(f"samples scored for Table 4.1 ({dataset}; {runs[0].metrics['fid_source']})")
    save(fig, paths["table4_1_samples"])
    return list(paths.values())


def write_stepsize(run_dirs: list[str | Path], dataset: str, out: str | Path) -> Path:
    """Final acceptance and score against h, one line per (sampler, noise) of the sweep."""
    from ebmlab.io import read_json
    from ebmlab.studies.table4_1.claims import score_columns
    ms = [read_json(Path(d) / "metrics.json", HINT) for d in run_dirs]
    lines: dict[tuple[str, str], list[tuple[float, float | None, float | None]]] = {}
    for m in ms:
        name, noise = m["run"][len("step_"):].rsplit("_", 2)[0], m["run"].rsplit("_", 1)[1]
        cols = score_columns(m)
        sc = None if m["diverged"] else next((v for v in cols.values() if v is not None), None)
        lines.setdefault((name, noise), []).append((m["sampler_config"]["step_size"], m["accept_prob_final"], sc))
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    if not lines:
        missing(a, "step-size sweep")
        missing(b, "step-size sweep")
    for (name, noise), pts in sorted(lines.items()):
        pts.sort()
        style = dict(marker="o", color=COLORS.get(name), ls="-" if noise == "fixed" else "--",
                     label=f"{name}, sigma = {'0.01 (study)' if noise == 'fixed' else 'sqrt(2h)'}")
        acc = [(h, v) for h, v, _ in pts if v is not None]
        scr = [(h, v) for h, _, v in pts if v is not None]
        if acc:
            a.plot(*zip(*acc), **style)
        if scr:
            b.plot(*zip(*scr), **style)
    for ax, ylabel in ((a, "final acceptance probability (exact test)"),
                       (b, "classifier Frechet distance (substitute)")):
        ax.set_xscale("log")
        ax.set_xlabel("step size h")
        ax.set_ylabel(ylabel)
        if ax.has_data():
            ax.legend(fontsize=8)
    a.set_ylim(-0.02, 1.02)
    if b.has_data():
        b.set_yscale("log")
    a.set_title(f"acceptance against h ({dataset}, short runs)")
    b.set_title("score against h (diverged runs left out)")
    save(fig, Path(out))
    return Path(out)
