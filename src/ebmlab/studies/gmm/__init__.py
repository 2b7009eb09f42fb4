"""The thesis's Gaussian-mixture study (section 4.1): one energy per sampler, then R-hat.

Each step is what one Snakemake job runs; all take explicit arguments::

    python -m ebmlab.studies.gmm train    --params params/smoke.yaml --section gmm --job mala --out results/x/mala
    python -m ebmlab.studies.gmm evaluate --params params/smoke.yaml --section gmm --job mala --out results/x/mala
    python -m ebmlab.studies.gmm table    --runs results/x/gd results/x/mala ... --profile smoke --csv t.csv
    python -m ebmlab.studies.gmm figures  --runs results/x/gd ... --out-dir reports/smoke/figures/gmm

R-hat protocol (the thesis says only "ten independent chains"; see docs/gmm.md): after
training, ``rhat.chains`` chains start like training chains (random training points
plus N(0, init_noise)) and run ``rhat.steps`` transitions of the run's own sampler;
the first ``rhat.burn_in`` fraction of draws is discarded; R-hat (thesis section 2.2.6)
is computed per coordinate of x and the larger of the two is reported.
"""
