"""File input and output: atomic writes (a failed run never leaves a partial file) and required inputs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from ebmlab.errors import ConfigError, DataError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the same folder; it replaces ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a file handle: the archive inside is always named ``archive``, not
    after the (random) temporary file name, so the same object gives the same bytes."""
    import torch
    with open(path, "wb") as fh:
        torch.save(obj, fh)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch_save(obj, tmp)


def atomic_save_npz(path: str | Path, compressed: bool = True, **arrays: Any) -> None:
    """``numpy.savez(_compressed)`` with a fixed timestamp on every member (numpy stamps the
    current time), so the same arrays give the same bytes; written atomically."""
    import zipfile
    import numpy as np
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=method) as zf:
            for name, value in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def atomic_savefig(fig, path: str | Path, **kwargs: Any) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **kwargs)


def require_file(path, hint: str = ""):
    """``path`` as a Path if it exists, else a one-line DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"missing input {path}" + (f": {hint}" if hint else ""))
    return path


def notice(message: str) -> None:
    """One line on stderr (a Snakemake rule's log) about something the run recovered from."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def first_line(err: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text and text[0] else type(err).__name__


def move_aside(path: str | Path) -> Path:
    """Rename an unreadable ``path`` to ``<name>.corrupt`` (replacing an older one) and return the new path."""
    path = Path(path)
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    return aside


def load_torch(path, hint: str = "", *, map_location="cpu", weights_only: bool = False,
               what: str = "checkpoint") -> Any:
    """``torch.load`` of a file a job wrote. A missing file is a one-line DataError (``hint``);
    an unreadable one (truncated, empty, overwritten) is moved aside to ``<name>.corrupt`` and
    reported in one line naming it, so that rerunning the job that writes it rebuilds it."""
    import torch
    path = require_file(path, hint)
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # any failure to unpickle is a damaged file, not a bug here
        aside = move_aside(path)
        raise DataError(f"corrupt {what} {path} ({first_line(err)}); moved aside to {aside.name}"
                        + (f": {hint}" if hint else "")) from None


def load_npz(path, hint: str = "") -> dict:
    """Every array of an ``.npz`` a job wrote, read at once. A missing file is a one-line DataError
    (``hint``); a damaged one (truncated, bad CRC) is moved aside and reported in one line."""
    import numpy as np
    path = require_file(path, hint)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as err:  # BadZipFile, a bad CRC-32, zlib.error, EOFError: a damaged file
        aside = move_aside(path)
        raise DataError(f"corrupt file {path} ({first_line(err)}); moved aside to {aside.name}"
                        + (f": {hint}" if hint else "")) from None


def require_folder(path, flag: str = "--out") -> Path:
    """``path`` as a Path if it is, or can become, a folder: an existing file there (or above it)
    is a one-line ConfigError, given before any compute."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"lies under the file {p}"
                raise ConfigError(f"{flag} {path} {what}, not a folder")
            break
    return path


@contextmanager
def created_folder(path: str | Path) -> Iterator[Path]:
    """Create ``path`` (and missing parents) for a download; on failure remove what was created."""
    path = Path(path)
    top = None
    for p in (path, *path.parents):
        if p.exists():
            break
        top = p
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        raise


def read_json(path, hint: str = ""):
    """A JSON file another job wrote, or a one-line DataError saying which job to run first."""
    return json.loads(require_file(path, hint).read_text())


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing file or malformed YAML is a one-line ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None


def dump_yaml(data: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
