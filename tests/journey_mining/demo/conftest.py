"""One small demo run shared by the demo tests, and plain-Python readers of its files.

The readers use only the standard library (gzip, json, csv) plus zstandard, independent of
both the generator and ``journey_mining.sources``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from journey_mining.demo import DemoSummary, generate_demo

PERSONS = 3_000
CHUNK = 1_000
SEED = 11
START = date(2026, 7, 1)
END = date(2026, 10, 31)


@dataclass
class Line:
    source: str
    file: str
    day: date
    text: str
    obj: dict[str, Any] | None


def file_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    if path.suffix == ".zst":
        with path.open("rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            return io.TextIOWrapper(reader, encoding="utf-8").read()
    return path.read_text(encoding="utf-8")


def event_lines(landing: Path) -> list[Line]:
    lines: list[Line] = []
    for source in ("mixpanel", "amplitude", "segment"):
        for path in sorted((landing / "events" / source).iterdir()):
            day = date.fromisoformat(path.name[:10])
            for text in file_text(path).splitlines():
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    obj = None
                lines.append(Line(source, path.name, day, text, obj))
    return lines


def csv_rows(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    paths = [folder] if folder.is_file() else sorted(folder.glob("*.csv"))
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            assert header is None or reader.fieldnames == header
            header = list(reader.fieldnames or [])
            rows.extend(reader)
    assert header is not None
    return header, rows


def event_id(line: Line) -> str:
    assert line.obj is not None
    if line.source == "segment":
        return str(line.obj["messageId"])
    if line.source == "amplitude":
        return str(line.obj["insert_id"])
    return str(line.obj["properties"]["$insert_id"])


def event_ts(line: Line) -> datetime:
    """The UTC instant of an event line, parsed per the contract."""
    assert line.obj is not None
    if line.source == "segment":
        return datetime.fromisoformat(line.obj["timestamp"]).astimezone(UTC)
    if line.source == "amplitude":
        return datetime.strptime(line.obj["event_time"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    millis = line.obj["properties"]["time"]
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def canonical_event(line: Line) -> tuple[str, str | None, str | None, dict[str, Any]]:
    """(event name, user id, anonymous id, properties) as the contract canonicalises them."""
    obj = line.obj
    assert obj is not None
    if line.source == "segment":
        kind = obj["type"]
        name = {"page": "Page Viewed", "identify": "identify", "alias": "alias"}.get(
            kind, obj.get("event")
        )
        props = dict(obj.get("properties") or {})
        if kind == "page":
            props["name"] = obj["name"]
        return name, obj.get("userId"), obj.get("anonymousId"), props
    if line.source == "amplitude":
        return obj["event_type"], obj.get("user_id"), obj.get("device_id"), obj["event_properties"]
    props = obj["properties"]
    distinct = props["distinct_id"]
    anon = distinct.removeprefix("$device:") if distinct.startswith("$device:") else None
    user = props.get("$user_id") or (None if anon else distinct)
    name = "identify" if obj["event"] == "$identify" else obj["event"]
    return name, user, anon or props.get("$device_id"), props


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """A 3,000-person demo in three chunks, so files hold several gzip members/zstd frames."""
    out = tmp_path_factory.mktemp("demo")
    return generate_demo(out, persons=PERSONS, seed=SEED, chunk_persons=CHUNK)


@pytest.fixture(scope="session")
def truth(demo: DemoSummary) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(demo.ground_truth_path.read_text())
    return result


@pytest.fixture(scope="session")
def lines(demo: DemoSummary) -> list[Line]:
    return event_lines(demo.landing_dir)
