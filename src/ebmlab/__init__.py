"""ebmlab: which MCMC sampler should train an energy-based model?"""

__version__ = "0.1.0"
