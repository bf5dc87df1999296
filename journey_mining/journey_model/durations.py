"""Duration strings such as ``30d`` or ``1d12h``, shared by journey models, mining and the CLI."""

from __future__ import annotations

import re

__all__ = ["DURATION_UNITS", "format_duration", "parse_duration"]

DURATION_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")


def parse_duration(text: str) -> int:
    """Turn a duration string into whole seconds.

    Windows and time targets are written the way people say them (``30d``), while SQL and the
    metrics need one comparable number.

    Parameters
    ----------
    text
        One or more ``<integer><unit>`` parts, units ``w`` (weeks), ``d``, ``h``, ``m``
        (minutes) and ``s``, largest first or not, without spaces: ``30d``, ``1d12h``, ``90m``.

    Returns
    -------
    int
        The duration in seconds, always greater than zero.

    Raises
    ------
    ValueError
        When the text is not a duration or adds up to zero.

    Examples
    --------
    >>> parse_duration("30d")
    2592000
    >>> parse_duration("1h30m")
    5400
    """
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        msg = f"{text!r} is not a duration like 30d, 12h, 90m or 1d12h (units: w, d, h, m, s)"
        raise ValueError(msg)
    seconds = sum(
        int(amount) * DURATION_UNITS[unit] for amount, unit in _PART.findall(text.strip())
    )
    if seconds <= 0:
        msg = f"{text!r} is a zero duration; it must be longer than 0s"
        raise ValueError(msg)
    return seconds


def format_duration(seconds: int) -> str:
    """Write seconds back as the shortest duration string, so reports read like the model.

    Examples
    --------
    >>> format_duration(129600)
    '1d12h'
    """
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit, size in DURATION_UNITS.items():
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
