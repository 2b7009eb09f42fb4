"""Nijkamp et al.'s learning diagnostics for any image-EBM training run (practical appendix D).

From the per-iteration log of a run (``history.csv`` of the image trainer, columns
``d_st`` = mean E(x+) - mean E(x-) and ``r_t`` = mean Langevin input-gradient norm):

* d_st over iterations and its histogram, r_t over iterations;
* the auto-correlation of d_st (and of r_t), and the cross-correlation
  corr(d_st[t], r_t[t + k]) for lags k in [-max_lag, max_lag];
* an oscillation label from the tail of the run (the last ``1 - burn_in`` of it):

  - ``none``: d_st keeps one sign (fewer than 10% or more than 90% positive): no
    oscillation around 0, the learning is drifting;
  - ``strong``: the lag-1 auto-correlation of d_st is below -2 / sqrt(n), the 95% band
    of white noise, i.e. an expansion update tends to follow a contraction one;
  - ``weak`` otherwise (the sign of d_st does not depend on recent iterations);
  - ``too_short``: fewer than 4 logged iterations in the tail (e.g. a run that diverged
    at once): the figure is drawn with what there is.

The figure follows the appendix's Figs 1-2: d_st (upper left, with its histogram),
r_t (upper right), cross-correlation (lower left), auto-correlations (lower right).
The numbers are :mod:`ebmlab.diagnostics` (other studies use them too). This study has no
params section: it reads the histories other studies' training jobs write::

    python -m ebmlab.studies.nijkamp diagnose --history results/.../history.csv --figure fig.png --metrics m.json
    python -m ebmlab.studies.nijkamp summary --metrics m1.json m2.json --runs a b --study cd_vs_nll \
        --profile fast --csv nijkamp_cd_vs_nll.csv --claims nijkamp_cd_vs_nll_claims.csv --figure s.png

``diagnose`` also records whether the run diverged (its folder's metrics.json / model.pt, or
non-finite values in the log); ``summary`` tabulates a study's runs (tail mean of r_t, label,
lag-1 auto-correlation, outcome) and judges the appendix's claims (:mod:`.claims`).
"""
