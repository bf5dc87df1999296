"""Run one benchmark step as a child process: its wall time and its own peak RSS.

A fresh process per step keeps each step's peak resident set size its own. ``os.wait4``
returns the resource usage of exactly that child (with its own children, such as dbt's or
Graphviz's), where ``RUSAGE_CHILDREN`` would give the largest of every child waited for so far.

Children that report figures print one JSON object as the last line of their stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measured:
    """One finished child: wall seconds, peak RSS (MiB), exit status and its output."""

    wall_s: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed_by(self) -> int | None:
        """The signal number that ended the child (9 for the OOM killer), if any."""
        return -self.returncode if self.returncode < 0 else None

    def report(self) -> dict[str, Any]:
        """The JSON object on the child's last stdout line ({} if there is none)."""
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                value = json.loads(line)
                return value if isinstance(value, dict) else {}
        return {}


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
) -> Measured:
    """Run ``argv`` to completion; wall time from spawn to exit, peak RSS from ``wait4``.

    Output goes to temporary files (a pipe could fill and stall the child); stderr is also
    appended to ``log`` when given, so a long run leaves its children's messages behind.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(str(a) for a in argv)}\n{stderr}\n")
    # ru_maxrss is in KiB on Linux
    return Measured(wall, usage.ru_maxrss / 1024, child.returncode, stdout, stderr)
