"""Numbers reported by the papers, printed beside the reproduced ones in reports/.

Sources are the plain-text copies in the papers folder of the project's workplace
(see docs/papers.md): thesis = Y. Zhang, MSc thesis, Imperial College London, 2021.
"""

from __future__ import annotations

#: Thesis section 4.1, Figs 4.2-4.5: R-hat of ten chains after training on the 4-Gaussian mixture.
GMM_RHAT = {"gd": 2891.63, "sgld": 19.21, "mala": 6.46, "psgld": 6.49}

#: Row labels as the thesis writes them.
GMM_LABELS = {"gd": "Gradient Descent", "sgld": "SGLD", "mala": "MALA", "psgld": "pSGLD"}

#: Thesis section 4.2.1, Table 4.1: FID after 100 epochs, unconditional IGEBM, per data set and sampler.
TABLE4_1_FID = {
    "cifar10": {"langevin": 61, "mala": 375, "tempered_mala": 413, "psgld": 107},
    "svhn": {"langevin": 68, "mala": 311, "tempered_mala": 362, "psgld": 155},
    "mnist": {"langevin": 117, "mala": 274, "tempered_mala": 308, "psgld": 173},
    "cats": {"langevin": 76, "mala": 311, "tempered_mala": 324, "psgld": 161},
}

#: Table 4.1 row labels as the thesis writes them.
TABLE4_1_LABELS = {"langevin": "Langevin dynamics", "mala": "MALA", "tempered_mala": "Tempering MALA",
                   "psgld": "Precondition (Lambda = 1)"}
