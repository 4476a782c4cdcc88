"""Values an older regauth stored, checked against today's rules once per process, not per request.

A registry endpoint or a repository endpoint template an older version accepted may hold what today's
admin commands refuse (a user and password, a path): the services that hand them out check each
stored value the first time they meet it and remember the answer, so the hot path pays a set lookup.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_CHECKED = 4096          # values remembered as checked, each way (cleared past it: rechecked, not refused)


class CheckedOnce:
    """`problem(value)`: why today's rules refuse a value, or None. `fit` holds the values that pass,
    for the caller to test first (`value in checked.fit`) on its hot path."""

    def __init__(self, problem: Callable[[str], str | None]) -> None:
        self._check = problem
        self.fit: set[str] = set()
        self._refused: dict[str, str] = {}

    def problem(self, value: str) -> str | None:
        """Why `value` is refused, or None when it passes; remembered either way."""
        if value in self.fit:
            return None
        problem = self._refused.get(value)
        if problem is None:
            problem = self._check(value)
            if problem is None:
                if len(self.fit) >= MAX_CHECKED:
                    self.fit.clear()
                self.fit.add(value)
                return None
            if len(self._refused) >= MAX_CHECKED:
                self._refused.clear()
            self._refused[value] = problem
        return problem
