"""Sequence numbers for `PROJECT.YYYYMMDD.NN.txt` (SPEC 3.3), pure.

NN is never reused for the same project and date: the next one is allocated above the
highest seen anywhere we can look (the local store, an output folder, the remote
`upload`, `success` and `error` listings). The caller provides those names and holds
the lock that makes "look, then take" atomic across processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from .render import parse_batch_name

__all__ = ["highest_sequence", "next_sequence", "yyyymmdd"]


def yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def highest_sequence(names: Iterable[str], project: str, day: date) -> int:
    """The highest NN among `names` for this project and day (0 if none)."""
    wanted = yyyymmdd(day)
    best = 0
    for name in names:
        # a rename-mode temp file ".NAME.part" still holds its sequence number
        if name.startswith(".") and name.endswith(".part"):
            name = name[1:-5]
        parsed = parse_batch_name(name)
        if parsed is None:
            continue
        proj, day_s, seq = parsed
        if proj == project and day_s == wanted and seq > best:
            best = seq
    return best


def next_sequence(names: Iterable[str], project: str, day: date, *, floor: int = 0) -> int:
    """The next free NN: above `floor` (e.g. the local store's highest) and every name seen."""
    return max(floor, highest_sequence(names, project, day)) + 1
