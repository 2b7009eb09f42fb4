"""Figure plumbing every study's figures module uses (PNG, headless, atomic writes).

Image grids go through :func:`torchvision.utils.make_grid`; nothing here knows a study.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ebmlab.io import atomic_path, atomic_savefig  # noqa: E402

__all__ = ["plt", "save", "missing", "show_grid", "save_image_grid", "ENERGY_CMAP"]

ENERGY_CMAP = "coolwarm"  # thesis Figs 4.2-4.5: red = high energy, blue = low


def save(fig, path: str | Path) -> None:
    """Write ``fig`` atomically and close it."""
    atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def missing(ax, what: str) -> None:
    """An empty panel saying which run the profile lacks (a figure never silently drops one)."""
    ax.text(0.5, 0.5, f"no {what} run in this profile", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(x, nrow: int, padding: int):
    from torchvision.utils import make_grid
    return make_grid(x.detach().float().cpu().clamp(0, 1)[:nrow * nrow], nrow=nrow, padding=padding,
                     pad_value=1.0)


def show_grid(ax, x, nrow: int = 8, padding: int = 1, note: str = "no samples") -> None:
    """Up to ``nrow``^2 images in [0, 1] on ``ax`` (``x`` None: a note instead)."""
    ax.axis("off")
    if x is None:
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes)
        return
    grid = _grid(x, nrow, padding)
    ax.imshow(grid.permute(1, 2, 0).numpy().squeeze(), cmap="gray" if x.shape[1] == 1 else None,
              vmin=0, vmax=1, interpolation="nearest")


def save_image_grid(x, path: str | Path, nrow: int = 8, padding: int = 1, min_size: int = 256) -> None:
    """A PNG of up to ``nrow``^2 images in [0, 1], upscaled (nearest) to >= ``min_size`` px wide.

    ``x`` None (a diverged run) writes a grey tile, so the output always exists. Uses only
    torchvision and PIL: a training job need not load the plotting stack.
    """
    import torch
    from PIL import Image
    if x is None:
        x = torch.full((1, 1, 8, 8), 0.5)
    arr = (_grid(x, nrow, padding) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(arr[:, :, 0] if x.shape[1] == 1 else arr)
    scale = max(1, min_size // image.size[0])
    image = image.resize((image.size[0] * scale, image.size[1] * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
