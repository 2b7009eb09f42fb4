"""Thesis Table 4.1 and Figs 4.6-4.11: which sampler trains an image EBM (section 4.2.1).

One cell = one (data set, run, seed): an energy trained with thesis Algorithm 7 and one
sampler (or a sampler switch), then scored by FID. Every cell is its own job, named
``<dataset>/<run>/seed<k>`` as its folder; reference statistics are one job per data set::

    python -m ebmlab.studies.table4_1 reference --params params/smoke.yaml --section table4_1 --job mnist \\
        --ref-dir results/smoke/table4_1/ref [--classifier results/smoke/table4_1/classifier/mnist.pt]
    python -m ebmlab.studies.table4_1 cell --params params/smoke.yaml --section table4_1 --job mnist/mala/seed0 \\
        --out results/smoke/table4_1/mnist/mala/seed0 --ref-dir results/smoke/table4_1/ref [--classifier ...]
    python -m ebmlab.studies.table4_1 table --runs results/smoke/table4_1/mnist/*/seed* --profile smoke --csv t.csv \\
        --metrics t.json --claims claims.csv
    python -m ebmlab.studies.table4_1 figures --runs results/smoke/table4_1/mnist/*/seed0 --dataset mnist --out-dir figs

(the digit classifier of the 'classifier' metric is ``python -m ebmlab.metrics.classifier train``,
given the ``classifier`` job's slice).

Chain noise: the thesis gives "noise 1e-4" and calls it a variance (section 4.2; v ~
N(0, n) in Algorithms 7-10) and, once, a standard deviation. ``noise_is`` says how to
read ``noise``; every sampler of the study gets ``noise_std`` from it (see
docs/table4_1.md for the default and why). Chains are clamped to the data range.

FID samples: ``fid.source: buffer`` scores ``fid.n_samples`` states of the replay
buffer (the model's persistent samples), ``fresh`` runs new chains from uniform noise;
``fid.steps`` more transitions of the run's last sampler are applied first (with the
EMA weights when ``fid.ema``). Metric kinds: ``inception`` (pytorch-fid's Inception
pool3: the FID the thesis reports), ``classifier`` (the Frechet distance in the
features of a small digit classifier: a labelled substitute), ``inception_standin``
(randomly initialised Inception: exercises the code path only).
"""
