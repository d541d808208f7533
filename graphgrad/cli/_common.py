"""What every ``graphgrad`` sub-command module shares: the user-facing error and one-line text.

The sub-command modules import only this module from ``graphgrad.cli``, so the
package ``__init__`` (which imports them) and they form no cycle.
"""

from __future__ import annotations


class CLIError(Exception):
    """A failure reported to the user as one line on stderr (exit code 2)."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())
