"""True contrastive divergence versus NLL training on MNIST (Gagnon & Lajoie), made quantitative.

Five regimes of the image trainer (thesis Algorithm 7) with Gagnon & Lajoie's MNIST energy
(section 8.3) and t = 10 Langevin steps:

* ``nll``: Du & Mordatch's buffer, started from uniform noise, 5% re-initialised with noise;
* ``true_cd``: the buffer starts with real images and each drawn start is a data point
  with probability 10% (section 6.1);
* ``true_cd_kl``: true CD plus the KL term with the sign CD prescribes (``kl_cd``);
* ``nll_du_kl``: NLL plus Du et al.'s auxiliary loss (``kl``: their sign);
* ``nll_deform``: NLL with every buffer draw elastically warped (section 6.3).

Each regime and seed is one job per step (``--job <regime>/seed<k>``; the regimes in
``seeded_runs``, default nll and true_cd, get every seed in ``seeds``, the others the first)::

    python -m ebmlab.studies.cd_vs_nll regimes    --params params/smoke.yaml --section cd_vs_nll
    python -m ebmlab.studies.cd_vs_nll classifier --params params/smoke.yaml --section cd_vs_nll --out CLF.pt
    python -m ebmlab.studies.cd_vs_nll train      --params params/smoke.yaml --section cd_vs_nll --job nll/seed0 --out DIR
    python -m ebmlab.studies.cd_vs_nll evaluate   --params ... --job nll/seed0 --out DIR --classifier CLF.pt
    python -m ebmlab.studies.cd_vs_nll figures    --runs DIR... --out-dir reports/smoke/figures/cd_vs_nll
    python -m ebmlab.studies.cd_vs_nll table      --runs DIR... --profile smoke --csv T.csv --claims C.csv --metrics M.json

``evaluate`` measures (a) the test-set NLL at the training temperature by AIS, (b) mode
coverage of long chains from noise (class histogram and entropy by the digit classifier the
pipeline trains; also at the high noise of Fig 4 and with test-time deformations), (c) the
classifier-feature Frechet distance of those samples to the test set (a labelled substitute
for FID), (d) the fraction of chains started on test images that stay near their start (see
:mod:`ebmlab.studies.cd_vs_nll.run`). ``table`` writes run x metric and one verdict per
claim of the paper, from the means and sds over seeds.
"""
