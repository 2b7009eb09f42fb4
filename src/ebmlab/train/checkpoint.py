"""Checkpoints that allow an exact resume, and the divergence guard's bookkeeping."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from ebmlab.io import atomic_path, first_line, move_aside, notice, torch_save


def config_hash(config: Any) -> str:
    """Stable hash of a plain config mapping: a checkpoint resumes only the same run."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class CheckpointStore:
    """``last.pt`` in a folder, written atomically, and the one before it kept as ``prev.pt``.

    A checkpoint that cannot be read (truncated, empty, overwritten) is moved aside to
    ``<name>.corrupt`` with one line on stderr naming it, and the run goes on from
    ``prev.pt`` if that one is good, else from scratch (the line says which).
    """

    def __init__(self, folder: str | Path, chash: str):
        self.folder = Path(folder)
        self.chash = chash
        self.path = self.folder / "last.pt"
        self.previous = self.folder / "prev.pt"

    def _read(self, path: Path) -> tuple[dict | None, str | None]:
        """(state, None), or (None, why) for an unreadable file (then moved aside)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict):
                raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
        except Exception as err:  # any failure to unpickle: a damaged file
            aside = move_aside(path)
            return None, f"unreadable checkpoint {path} ({first_line(err)}), moved aside to {aside.name}"
        return state, None

    def load(self) -> dict | None:
        """The newest readable state if it belongs to this config, else None (a fresh start)."""
        problems = []
        for path in (self.path, self.previous):
            if not path.exists():
                continue
            state, why = self._read(path)
            if state is None:
                problems.append(why)
                continue
            if problems:
                notice(f"{'; '.join(problems)}; resuming from the previous checkpoint {path} "
                       f"({_position(state)})")
            return state if state.get("config_hash") == self.chash else None
        if problems:
            notice(f"{'; '.join(problems)}; starting from scratch")
        return None

    def save(self, state: dict) -> None:
        """Write ``last.pt``; the one it replaces becomes ``prev.pt``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            torch_save({**state, "config_hash": self.chash}, tmp)
            if self.path.exists():
                os.replace(self.path, self.previous)


def _position(state: dict) -> str:
    for key, unit in (("iteration", "iteration"), ("epoch", "epoch")):
        if isinstance(state.get(key), int):
            return f"after {unit} {state[key]}"
    return "an earlier state"


def generator_state(gen: torch.Generator) -> torch.Tensor:
    return gen.get_state()


def restore_generator(gen: torch.Generator, state: torch.Tensor) -> None:
    gen.set_state(state)
