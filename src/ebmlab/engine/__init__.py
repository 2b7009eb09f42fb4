"""Fast evaluation of energies and input gradients for the samplers' inner loop.

Samplers talk to a :class:`ebmlab.samplers.Target`; the classes here are drop-in
Targets that compute exactly the same function faster than generic autograd.
"""

from ebmlab.engine.mlp import MLPTarget

__all__ = ["MLPTarget"]
