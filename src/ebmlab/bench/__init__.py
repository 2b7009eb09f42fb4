"""Speed benchmarks (not timed tests): ``python -m ebmlab.bench {gmm,sampling,train_step,fid,all,model,all-models}``.

Each subcommand runs the naive eager loop and the engine side by side in one process
on the same model, batch and seed, prints both with their ratio, and checks that the
engine's samples match the naive loop's statistics (docs/engine.md).

* ``gmm`` (bench/gmm.py): the GMM study's samplers on its MLP energy;
* ``sampling``, ``train_step``, ``fid``, ``all`` (bench/image.py): a CIFAR-sized IGEBM energy
  (``all`` is what the GPU check script runs);
* ``sampling`` / ``train_step`` with ``--study`` or ``--model``, ``model`` and ``all-models``
  (bench/study.py): each image study's own model, sampler and training iteration read from its
  params section (``--params params/fast.yaml``), one report per model
  (``<out-dir>/cpu-<model>.txt``), with achieved GFLOP/s against a peak measured on the machine.
"""
