"""The one exception a journey model raises, carrying every problem found."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["JourneyModelError"]


class JourneyModelError(ValueError):
    """A journey model (or several) was refused.

    ``errors`` keeps every message, each ``path:line: field: problem``, so a PM fixes the whole
    file in one pass; ``str()`` is all of them, one per line.
    """

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))
