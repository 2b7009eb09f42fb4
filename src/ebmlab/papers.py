"""Numbers reported by the papers, printed beside the reproduced ones in reports/.

Sources are the plain-text copies in the papers folder of the project's workplace
(see docs/papers.md): thesis = Y. Zhang, MSc thesis, Imperial College London, 2021.
"""

from __future__ import annotations

#: Thesis section 4.1, Figs 4.2-4.5: R-hat of ten chains after training on the 4-Gaussian mixture.
GMM_RHAT = {"gd": 2891.63, "sgld": 19.21, "mala": 6.46, "psgld": 6.49}

#: Row labels as the thesis writes them.
GMM_LABELS = {"gd": "Gradient Descent", "sgld": "SGLD", "mala": "MALA", "psgld": "pSGLD"}
