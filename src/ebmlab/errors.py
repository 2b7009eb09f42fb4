"""The exceptions every layer raises for expected failures (one line each, no traceback).

The command-line wrapper (:func:`ebmlab.cli.guarded`) turns them into ``error: ...`` or
``diverged: ...`` on stderr and an exit status; the library never prints them itself.
"""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


class ConfigError(ValueError):
    """Bad user input: the message is a single line naming the problem."""


class DataError(RuntimeError):
    """Missing data set or weights file: the message says how to obtain it."""


class Diverged(RuntimeError):
    """Training blew up; the message names the last good checkpoint."""
