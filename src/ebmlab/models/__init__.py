"""Energy functions E_theta(x) -> (batch,) tensors."""

from ebmlab.models.mlp import MLPEnergy, MLPConfig

__all__ = ["MLPEnergy", "MLPConfig"]
