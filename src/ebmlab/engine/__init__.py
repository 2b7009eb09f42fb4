"""Fast evaluation of energies and input gradients for the samplers' inner loop.

Samplers talk to a :class:`ebmlab.samplers.Target`; the classes here are drop-in
Targets that compute the same function faster than generic autograd, and may run
the sampler's own transitions in compiled chunks (``Target.run_chain``).

* :class:`MLPTarget` (engine/mlp.py): closed-form gradient of the toy MLP energy in
  torch operations (fp32 by default);
* :class:`CompiledChain` (engine/chain.py): ``torch.compile`` of K transitions with
  the random numbers drawn outside the graph, in the eager order.
"""

from ebmlab.engine.chain import CompiledChain
from ebmlab.engine.mlp import MLPTarget

__all__ = ["MLPTarget", "CompiledChain"]
