"""Training loops: contrastive divergence for toy energies, and image EBMs."""
