"""A log message of several lines, each written as if it were a record of its own."""

from __future__ import annotations

from collections.abc import Sequence


class LogLines:
    """Logged as one record (one lock, one write, one flush) but shown as one line per item:
    regauth's formatter (`cli.serve.configure_logging`) gives every line the date, level and logger
    prefix; any other formatter shows the lines under a single prefix. The lines must hold no
    newline of their own."""

    __slots__ = ("lines",)

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(self.lines)
