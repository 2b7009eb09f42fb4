"""Checkpoints that allow an exact resume, and the divergence guard's bookkeeping."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ebmlab.io import atomic_torch_save


def config_hash(config: Any) -> str:
    """Stable hash of a plain config mapping: a checkpoint resumes only the same run."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class CheckpointStore:
    """``last.pt`` in a folder, written atomically; it is only ever replaced by a newer good state."""

    def __init__(self, folder: str | Path, chash: str):
        self.folder = Path(folder)
        self.chash = chash
        self.path = self.folder / "last.pt"

    def load(self) -> dict | None:
        """The saved state if it belongs to this config, else None (a fresh start)."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("config_hash") != self.chash:
            return None
        return state

    def save(self, state: dict) -> None:
        atomic_torch_save({**state, "config_hash": self.chash}, self.path)


def generator_state(gen: torch.Generator) -> torch.Tensor:
    return gen.get_state()


def restore_generator(gen: torch.Generator, state: torch.Tensor) -> None:
    gen.set_state(state)
