"""Progress a person can follow: a tqdm bar on a terminal, timed plain lines in a log.

Every long loop reports through :class:`Progress` (or the :func:`progress` /
:func:`progress_range` wrappers). What it writes depends on ``enabled``:

* ``False``: nothing at all (short inner loops, e.g. the sampler chain of one training
  iteration).
* ``None`` (the default): if the stream is a terminal, a tqdm bar (tqdm's own
  ``disable=None`` rule decides); otherwise -- a Snakemake log, ``2> file``, CI -- plain lines

      iterations: 120/1000 (12%) loss=-0.0132 0.251 s/it, elapsed 00:30, ETA 03:41

  written at the first update at least ``every`` seconds (default 30) after the previous
  line of the process (or the start of its first loop), so a job's log shows a line at least
  every ``every`` seconds plus one update interval, also when it runs many short loops one
  after another. Each line is flushed.
* ``True``: the tqdm bar even when the stream is not a terminal (the old meaning).

While a bar is shown no plain lines are written (they would garble it; the bar shows the
same numbers). At :meth:`Progress.close` a final line (``..., done`` or ``..., stopped``)
is written only when the job has already written a line or took at least ``every``
seconds, and not when the last line already showed the final count: a job shorter than
``every`` stays silent, which keeps tests and short chains quiet.

Seconds per iteration and the ETA count only the iterations of this process, so a resumed
run (``initial=``) reports its own speed while showing the absolute iteration. The clock
is injectable: ``clock=`` or the module attribute :data:`clock` (looked up when a
:class:`Progress` is made, so tests can monkeypatch it); the stream defaults to
``sys.stderr`` looked up at each write.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

#: the clock every :class:`Progress` uses unless given one (monkeypatch in tests)
clock: Callable[[], float] = time.monotonic
#: default seconds between plain lines
EVERY = 30.0

# The last plain line of the process (and the clock it was read on): a loop that starts
# after others counts its first interval from there, so a job made of many short loops (an
# evaluation's chains, AIS, scoring) still writes a line at least every ``every`` seconds.
_heartbeat: dict[str, Any] = {"clock": None, "t": None}


def format_seconds(s: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on; ``?`` when unknown."""
    if s is None or not math.isfinite(s) or s < 0:
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool) or isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    try:
        return f"{float(v):.4g}"  # numpy / 0-d tensor scalars
    except (TypeError, ValueError):
        return str(v)


class Progress:
    """Progress of a loop of ``total`` steps (``None``: unknown); see the module docstring.

    ``update(n=1, **fields)`` after each step (``fields``, e.g. ``loss=...``, are shown in
    the line and the bar's postfix); ``fields=`` is an optional callback returning more
    fields, called only when a line is written (or the bar's postfix is refreshed, at most
    once a second), so an expensive value (a host sync) is not computed every step.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, total: int | None, desc: str = "", *, every: float | None = None,
                 clock: Callable[[], float] | None = None, stream: IO[str] | None = None,
                 enabled: bool | None = None, initial: int = 0,
                 fields: Callable[[], Mapping[str, Any]] | None = None):
        self.total = total
        self.desc = desc
        self.every = EVERY if every is None else float(every)
        if self.every < 0:
            raise ValueError(f"every must be >= 0, got {every}")
        self._clock = clock if clock is not None else globals()["clock"]
        self._stream = stream
        self._fields_fn = fields
        self.active = enabled is not False
        self.n = initial
        self._n0 = initial
        self.fields: dict[str, Any] = {}
        self.lines = 0
        self._last_n: int | None = None
        self.closed = False
        self.bar = None
        self._t0 = self._last = self._postfix_at = self._clock() if self.active else 0.0
        if self.active:
            if _heartbeat["clock"] is self._clock and _heartbeat["t"] is not None:
                self._last = min(self._last, _heartbeat["t"])   # the interval runs on across loops
            else:
                _heartbeat.update(clock=self._clock, t=self._t0)
        if self.active:
            bar = tqdm(total=total, initial=initial, desc=desc or None, file=self.stream,
                       disable=None if enabled is None else not enabled, leave=False, dynamic_ncols=True)
            if bar.disable:
                bar.close()
            else:
                self.bar = bar

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    # -- reporting --------------------------------------------------------------
    def update(self, n: int = 1, **fields: Any) -> None:
        if not self.active:
            return
        self.n += n
        if fields:
            self.fields.update(fields)
        now = self._clock()
        if self.bar is not None:
            if self._fields_fn is not None and now - self._postfix_at >= min(1.0, self.every):
                self.fields.update(self._fields_fn())
                self._postfix_at = now
            if self.fields:
                self.bar.set_postfix({k: _fmt_value(v) for k, v in self.fields.items()}, refresh=False)
            self.bar.update(n)
        elif now - self._last >= self.every:
            self._write(now)

    def line(self, now: float | None = None, end: str | None = None) -> str:
        """The plain line for the state at ``now`` (``end`` replaces the ETA, e.g. 'done')."""
        now = self._clock() if now is None else now
        elapsed = now - self._t0
        done = self.n - self._n0
        rate = elapsed / done if done > 0 else math.nan
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            head += f"{self.n}/{self.total} ({int(100 * self.n / self.total)}%)"
        else:
            head += f"{self.n}"
        parts = [head]
        parts += [f"{k}={_fmt_value(v)}" for k, v in self.fields.items()]
        parts.append(f"{rate:.3g} s/it," if math.isfinite(rate) else "? s/it,")
        tail = f"elapsed {format_seconds(elapsed)}, "
        if end is not None:
            tail += end
        elif self.total:
            tail += f"ETA {format_seconds(max(self.total - self.n, 0) * rate)}"
        else:
            tail += "ETA ?"
        return " ".join(parts) + " " + tail

    def _write(self, now: float, end: str | None = None) -> None:
        if self._fields_fn is not None:
            self.fields.update(self._fields_fn())
        stream = self.stream
        stream.write(self.line(now, end) + "\n")
        stream.flush()
        self._last = now
        self._last_n = self.n
        self.lines += 1
        if _heartbeat["clock"] is self._clock:
            _heartbeat["t"] = now

    def close(self, *, failed: bool = False) -> None:
        """Close the bar; write the final line if the job was long (see the module docstring)."""
        if self.closed:
            return
        self.closed = True
        if not self.active:
            return
        if self.bar is not None:
            self.bar.close()
            return
        now = self._clock()
        if (self.lines or now - self._t0 >= self.every) and self._last_n != self.n:
            finished = self.total is None or self.n >= self.total
            self._write(now, "done" if finished and not failed else "stopped")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)


def _iterate(iterable: Iterable[T], bar: Progress) -> Iterator[T]:
    failed = True
    try:
        for x in iterable:
            yield x
            bar.update()
        failed = False
    finally:
        bar.close(failed=failed)


def progress(iterable: Iterable[T], *, desc: str = "", total: int | None = None,
             enabled: bool | None = None, every: float | None = None, initial: int = 0,
             fields: Callable[[], Mapping[str, Any]] | None = None,
             clock: Callable[[], float] | None = None, stream: IO[str] | None = None) -> Iterator[T]:
    """Iterate ``iterable`` reporting through a :class:`Progress` (``enabled=False``: plain
    iteration, no overhead). ``fields()`` adds values (e.g. the last loss) to each line."""
    if enabled is False:
        return iter(iterable)
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _iterate(iterable, Progress(total, desc, every=every, clock=clock, stream=stream,
                                       enabled=enabled, initial=initial, fields=fields))


def progress_range(n: int, *, desc: str = "", enabled: bool | None = None, **kwargs: Any) -> Iterator[int]:
    """``progress(range(n), total=n, ...)``; ``kwargs`` as in :func:`progress`."""
    return progress(range(n), desc=desc, total=n, enabled=enabled, **kwargs)


__all__ = ["Progress", "progress", "progress_range", "format_seconds", "clock", "EVERY"]
