"""Speed benchmarks (not timed tests): ``python -m ebmlab.bench {gmm,sampling,train_step,fid}``.

Each subcommand runs the naive eager loop and the engine side by side in one process
on the same model, batch and seed, prints both with their ratio, and checks that the
engine's samples match the naive loop's statistics (docs/engine.md).
"""
