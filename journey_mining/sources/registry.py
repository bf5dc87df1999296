"""The landing shapes, and which shape a file has from its landing sub-folder.

==========================================  ======================  =======================
landing path (relative to the landing root)  shape                   raw table
==========================================  ======================  =======================
``events/segment/*``                         ``segment``             ``product_events``
``events/amplitude/*``                       ``amplitude``           ``product_events``
``events/mixpanel/*``                        ``mixpanel``            ``product_events``
``events/generic/<feed>/*`` (+ mapping.yml)  ``generic``             ``product_events``
``crm/<vendor>/contacts*.csv``               ``crm_contacts``        ``crm_contacts``
``crm/<vendor>/activities/*``                ``crm_activities``      ``crm_activities``
``crm/<vendor>/deal_stage_changes/*``        ``crm_deal_stage_changes``  same
``crm/<vendor>/survey_responses/*``          ``crm_survey_responses``    same
==========================================  ======================  =======================

Adding a shape is one module and one entry in :data:`SHAPES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from journey_mining.sources import amplitude, crm, generic, mixpanel, segment
from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    LandingFileError,
    ReadResult,
    combine,
)

DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")


@dataclass(frozen=True)
class Shape:
    """A landing shape: its name, its raw table and its batch reader."""

    name: str
    table: str
    read: Callable[..., Iterator[ReadResult]]
    system: str


SHAPES: dict[str, Shape] = {
    "segment": Shape("segment", "product_events", segment.read, "product"),
    "amplitude": Shape("amplitude", "product_events", amplitude.read, "product"),
    "mixpanel": Shape("mixpanel", "product_events", mixpanel.read, "product"),
    "generic": Shape("generic", "product_events", generic.read, "product"),
    "crm_contacts": Shape("crm_contacts", "crm_contacts", crm.read_contacts, "crm"),
    "crm_activities": Shape("crm_activities", "crm_activities", crm.read_activities, "crm"),
    "crm_deal_stage_changes": Shape(
        "crm_deal_stage_changes", "crm_deal_stage_changes", crm.read_deal_stage_changes, "crm"
    ),
    "crm_survey_responses": Shape(
        "crm_survey_responses", "crm_survey_responses", crm.read_survey_responses, "crm"
    ),
}

_CRM_FOLDERS = {
    "contacts": "crm_contacts",
    "activities": "crm_activities",
    "deal_stage_changes": "crm_deal_stage_changes",
    "survey_responses": "crm_survey_responses",
}
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class LandingFile:
    """A data file in the landing folder, with its shape and export day (from its name)."""

    path: Path
    source_file: str
    shape: Shape
    source: str
    export_date: date | None


def relative_name(path: Path, landing_root: Path | None) -> str:
    """The stable ``source_file`` name: the POSIX path relative to the landing root."""
    if landing_root is not None:
        if ".." not in path.parts and path.is_relative_to(landing_root):
            return path.relative_to(landing_root).as_posix()
        try:
            return path.resolve().relative_to(landing_root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def export_date_of(path: Path) -> date | None:
    """The export day in the file name (``YYYY-MM-DD``), if any."""
    match = _DATE.search(path.name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def detect(path: Path, landing_root: Path | None = None) -> LandingFile:
    """Find a file's shape from its landing sub-folder.

    Raises
    ------
    LandingFileError
        When the path is under no known landing folder.
    """
    name = relative_name(path, landing_root)
    parts = PurePosixPath(name).parts
    shape_name: str | None = None
    source = ""
    for i in range(len(parts) - 1, -1, -1):
        rest = parts[i + 1 :]
        if parts[i] == "events" and len(rest) >= 2 and rest[0] in SHAPES:
            shape_name, source = rest[0], rest[0]
            break
        if parts[i] == "crm" and len(rest) >= 2:
            inner = rest[1] if len(rest) > 2 else PurePosixPath(rest[1]).name.split(".")[0]
            key = next((k for k in _CRM_FOLDERS if inner.startswith(k)), None)
            if key is not None:
                shape_name, source = _CRM_FOLDERS[key], rest[0]
                break
    if shape_name is None:
        msg = "not under a known landing folder (events/<shape>/ or crm/<vendor>/<object>/)"
        raise LandingFileError(name, msg)
    return LandingFile(path, name, SHAPES[shape_name], source, export_date_of(path))


def landing_files(landing_root: Path) -> list[LandingFile]:
    """Every data file under the landing root with a known shape, sorted by name."""
    found = [
        p
        for p in landing_root.rglob("*")
        if p.is_file() and any(s.lower() in DATA_SUFFIXES for s in p.suffixes)
    ]
    result: list[LandingFile] = []
    for path in sorted(found):
        try:
            result.append(detect(path, landing_root))
        except LandingFileError:
            continue
    return result


def read_batches(
    path: Path,
    *,
    landing_root: Path | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> Iterator[ReadResult]:
    """Read any landing file in batches (memory bounded by ``batch_bytes``), shape detected."""
    return read_detected(
        detect(path, landing_root),
        batch_bytes=batch_bytes,
        max_line_bytes=max_line_bytes,
        now=now,
    )


def read_detected(
    file: LandingFile,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> Iterator[ReadResult]:
    """Read a file whose shape is already known (see :func:`detect`)."""
    options: dict[str, object] = {
        "source_file": file.source_file,
        "batch_bytes": batch_bytes,
        "max_line_bytes": max_line_bytes,
        "now": now,
    }
    if file.shape.name.startswith("crm_"):
        options["source"] = file.source
    return file.shape.read(file.path, **options)


def read_landing(
    path: Path,
    *,
    landing_root: Path | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> ReadResult:
    """Read a whole landing file into one :class:`ReadResult` (shape from its folder).

    Examples
    --------
    >>> result = read_landing(root / "events/segment/2026-07-03.jsonl", landing_root=root)
    >>> result.rows_read == result.rows.height + result.rejects.height + result.duplicates
    True
    """
    return combine(
        list(read_batches(path, landing_root=landing_root, max_line_bytes=max_line_bytes, now=now))
    )
