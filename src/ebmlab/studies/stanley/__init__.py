"""STANLEY (Algorithm 1) against Langevin, MH, HMC and noiseless GD (STANLEY section 5).

Every sampler trains the same energy with Algorithm 1's loop: non-persistent short-run
chains from noise, K transitions per EBM iteration with the parameters frozen, then one
optimiser step on mean E(x+) - mean E(x-) (the image trainer with ``init: short_run``
and no L2 penalty). STANLEY's anisotropic step gamma = s * th / max(th, |grad E|) is
computed per iteration from the gradient at the chains' start states (sampler option
``recompute: run``); its Brownian term is eps * xi (``noise_std`` = eps). The Langevin
baseline is STANLEY's ablation: the same update with a fixed gamma = s, i.e. step s / 2
on the gradient and noise std sqrt(s) * eps (docs/stanley.md).

Three experiments, each its own set of jobs; ``--job`` names one (see ``jobs.py``): a rings
sampler (``stanley``), a data set (``mnist``) or a curve ``<dataset>/<sampler>``
(``mnist/langevin``)::

    # rings toy (Fig 1 + a distance-to-truth curve the paper does not give)
    python -m ebmlab.studies.stanley rings --params params/smoke.yaml --section stanley --job stanley --out DIR
    python -m ebmlab.studies.stanley rings-figure --runs DIR1 DIR2 --profile smoke --figure f.png \\
        --distance-figure d.png --csv d.csv
    # FID curves (Figs 4-5): training in segments, one scoring job per checkpoint
    python -m ebmlab.studies.stanley classifier --params ... --section stanley --job mnist --out clf.pt
    python -m ebmlab.studies.stanley reference --params ... --section stanley --job mnist --ref-dir REF \\
        [--classifier clf.pt]
    python -m ebmlab.studies.stanley segment --params ... --section stanley --job mnist/stanley \\
        --until 5000 [--previous ckpt/0.pt] --out ckpt/5000.pt
    python -m ebmlab.studies.stanley fid ... --job mnist/stanley --checkpoint ckpt/5000.pt --ref-dir REF \\
        --out fid/5000.json
    python -m ebmlab.studies.stanley curves --points fid/*.json --profile smoke --csv c.csv --out-dir FIGS
    # inpainting (Fig 6) with the final checkpoints of one data set
    python -m ebmlab.studies.stanley inpaint --params ... --section stanley --checkpoint stanley=A.pt \\
        --checkpoint langevin=B.pt --figure inpaint.png --csv inpaint.csv --profile smoke

Scores at every point of a curve use the same reference statistics, sample count and
seed (``fid.seed``): the samples are fresh short-run chains from noise with the run's
own sampler and K transitions, as the model is trained to produce them.
"""
