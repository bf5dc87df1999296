"""Write the demo landing folder and its ground truth (data contract §1 and §4).

Persons are simulated in chunks of :data:`CHUNK_PERSONS`; each chunk appends one gzip member
or zstd frame (or CSV block) to every per-day file it touches, so memory stays bounded and the
output is byte-identical for the same seed, parameters and chunk size.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import zstandard

from journey_mining.demo.render import SOURCES, crm_rows, people_strings, product_lines
from journey_mining.demo.scenario import DEFAULT_SCENARIO, STAGES, SURVEY_STAGE, Scenario
from journey_mining.demo.simulate import CRM_ACTIVITIES, SURVEYS, SimulatedChunk, simulate_chunk
from journey_mining.demo.truth import censor, contact_rows, person_truth

CHUNK_PERSONS: Final = 100_000
"""Persons per chunk: 1,000,000 persons took 55 s and 2.3 GB peak RSS on 2 cores
(``benchmarks/generate_demo.py``); one chunk alone peaks near 1.4 GB."""

GZIP_LEVEL: Final = 3
ZSTD_LEVEL: Final = 3

_EVENT_FILES: Final = {
    "segment": "events/segment/{day}.jsonl.gz",
    "amplitude": "events/amplitude/{day}.json.gz",
    "mixpanel": "events/mixpanel/{day}.jsonl.zst",
}
_CRM: Final = "crm/hubspot"
_OWNED: Final = ("events/segment", "events/amplitude", "events/mixpanel", _CRM)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo` wrote.

    ``events`` counts every data line of the dated landing files (product events and CRM
    rows, planted duplicates and bad lines included); ``files`` counts landing files.
    """

    out_dir: Path
    landing_dir: Path
    ground_truth_path: Path
    persons_path: Path
    persons: int
    events: int
    product_events: int
    crm_rows: int
    files: int
    seconds: float
    events_by_source: dict[str, int] = field(default_factory=dict)


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)


def _plain(data: bytes) -> bytes:
    return data


class _Landing:
    """Appends blocks to landing files in a fixed order; compression runs on two threads."""

    def __init__(self, root: Path, pool: ThreadPoolExecutor) -> None:
        self.root = root
        self.pool = pool
        self.lines: Counter[str] = Counter()

    def append(self, blocks: Iterable[tuple[str, Callable[[bytes], bytes], bytes, int]]) -> None:
        jobs = [(name, self.pool.submit(pack, data), rows) for name, pack, data, rows in blocks]
        for name, future, rows in jobs:
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as fh:
                fh.write(future.result())
            self.lines[name] += rows

    def csv_blocks(
        self, folder: str, frame: pl.DataFrame, first_day: date
    ) -> list[tuple[str, Callable[[bytes], bytes], bytes, int]]:
        blocks: list[tuple[str, Callable[[bytes], bytes], bytes, int]] = []
        for (day,), part in frame.partition_by("day", as_dict=True, maintain_order=True).items():
            assert isinstance(day, int)
            name = f"{folder}/{(first_day + timedelta(days=day)).isoformat()}.csv"
            rows = part.drop("day", "ts")
            data = rows.write_csv(include_header=name not in self.lines).encode()
            blocks.append((name, _plain, data, rows.height))
        return blocks


def generate_demo(  # noqa: PLR0917 (the documented API takes these positionally)
    out_dir: Path,
    persons: int = 20_000,
    seed: int = 7,
    start: date = date(2026, 7, 1),
    end: date = date(2026, 10, 31),
    progress: Callable[[str], None] | None = None,
    *,
    scenario: Scenario = DEFAULT_SCENARIO,
    chunk_persons: int = CHUNK_PERSONS,
) -> DemoSummary:
    """Generate the demo landing files and the ground truth under ``out_dir``.

    Parameters
    ----------
    out_dir
        Receives ``landing/`` (data contract §1), ``ground_truth.json`` and
        ``ground_truth_persons.parquet``. Earlier demo output there is replaced.
    persons
        Number of persons (CRM contacts); each enters the journey once.
    seed
        Same seed and parameters give byte-identical files.
    start, end
        Entry times are uniform over ``[start, end]``; nothing after ``end`` 23:59:59 UTC is
        emitted.
    progress
        Called with a short message per phase.
    scenario
        The parameters (personas, timing, dirt); :data:`DEFAULT_SCENARIO` by default.
    chunk_persons
        Persons simulated and written at a time; bounds memory. The output depends on it.

    Returns
    -------
    DemoSummary
        Paths, counts and the elapsed time.

    Examples
    --------
    >>> summary = generate_demo(tmp_path, persons=1_000)
    >>> (summary.landing_dir / "crm/hubspot/contacts.csv").exists()
    True
    """
    if persons < 1:
        msg = f"persons must be at least 1, got {persons}"
        raise ValueError(msg)
    if chunk_persons < 1:
        msg = f"chunk_persons must be at least 1, got {chunk_persons}"
        raise ValueError(msg)
    if end < start:
        msg = f"end {end} is before start {start}"
        raise ValueError(msg)
    began = time.perf_counter()
    say = progress if progress is not None else (lambda _message: None)
    out_dir = Path(out_dir)
    landing = out_dir / "landing"
    for owned in _OWNED:
        shutil.rmtree(landing / owned, ignore_errors=True)
    landing.mkdir(parents=True, exist_ok=True)
    period = _Period(
        start=start,
        start_s=_epoch(start),
        cutoff_s=_epoch(end + timedelta(days=1)),
        last_day=(end - start).days,
        migration_ms=_epoch(scenario.migration) * 1000,
    )
    run = _Run(scenario=scenario, seed=seed, period=period)
    persons_path = out_dir / "ground_truth_persons.parquet"
    writer: pq.ParquetWriter | None = None
    with ThreadPoolExecutor(max_workers=2) as pool:
        files = _Landing(landing, pool)
        for chunk, first in enumerate(range(0, persons, chunk_persons)):
            n = min(chunk_persons, persons - first)
            label = f"persons {first + 1:,}-{first + n:,} of {persons:,}"
            say(f"{label}: simulating")
            blocks, truth = run.chunk(chunk, first, n, files)
            say(f"{label}: writing")
            files.append(blocks)
            table = truth.to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(persons_path, table.schema, compression="zstd")
            writer.write_table(table)
    assert writer is not None
    writer.close()

    say("writing ground truth")
    truth_path = out_dir / "ground_truth.json"
    ground_truth = _ground_truth(
        scenario,
        persons=persons,
        seed=seed,
        start=start,
        end=end,
        totals=run.totals,
        sentiment=run.sentiment,
        lines=files.lines,
    )
    truth_path.write_text(json.dumps(ground_truth, indent=2, sort_keys=True) + "\n")
    product = sum(run.totals[f"lines_{s}"] for s in SOURCES)
    crm_total = sum(n for name, n in files.lines.items() if name.startswith(_CRM)) - persons
    return DemoSummary(
        out_dir=out_dir,
        landing_dir=landing,
        ground_truth_path=truth_path,
        persons_path=persons_path,
        persons=persons,
        events=product + crm_total,
        product_events=product,
        crm_rows=crm_total,
        files=len(files.lines),
        seconds=time.perf_counter() - began,
        events_by_source={
            **{s: run.totals[f"lines_{s}"] for s in SOURCES},
            "hubspot": crm_total,
        },
    )


@dataclass(frozen=True)
class _Period:
    start: date
    start_s: int
    cutoff_s: int
    last_day: int
    migration_ms: int


Block = tuple[str, Callable[[bytes], bytes], bytes, int]


@dataclass
class _Run:
    """Simulates and renders chunks, accumulating the ground-truth counts."""

    scenario: Scenario
    seed: int
    period: _Period
    totals: Counter[str] = field(default_factory=Counter)
    sentiment: Counter[str] = field(default_factory=Counter)

    def chunk(
        self, chunk: int, first: int, n: int, files: _Landing
    ) -> tuple[list[Block], pl.DataFrame]:
        period, scenario = self.period, self.scenario
        rng = np.random.default_rng([self.seed, chunk])
        simulated = simulate_chunk(
            rng, n, first, start_s=period.start_s, cutoff_s=period.cutoff_s, scenario=scenario
        )
        sim = censor(simulated, period.cutoff_s)
        people = people_strings(sim.persons, self.seed)
        truth = person_truth(sim, people, scenario=scenario, end_s=period.cutoff_s - 1)
        events = product_lines(
            sim.product,
            sim.persons,
            people,
            rng=rng,
            chunk=chunk,
            salt=self.seed,
            first_day_s=period.start_s,
            last_day=period.last_day,
            migration_ms=period.migration_ms,
            dirt=scenario.dirt,
        )
        crm = crm_rows(
            sim.activities,
            sim.deals,
            sim.surveys,
            people,
            rng=rng,
            chunk=chunk,
            first_day_s=period.start_s,
            bad_dates=max(1, n // scenario.dirt.persons_per_bad_date),
        )
        blocks = list(_event_blocks(events.lines, period.start))
        blocks += files.csv_blocks(f"{_CRM}/activities", crm.activities, period.start)
        blocks += files.csv_blocks(f"{_CRM}/deal_stage_changes", crm.deals, period.start)
        blocks += files.csv_blocks(f"{_CRM}/survey_responses", crm.surveys, period.start)
        contacts = contact_rows(sim.persons, people, truth)
        name = f"{_CRM}/contacts.csv"
        data = contacts.write_csv(include_header=name not in files.lines).encode()
        blocks.append((name, _plain, data, contacts.height))
        self.totals.update(events.counts)
        self.totals.update(crm.counts)
        self.totals.update(_chunk_counts(sim, truth, crm.activities.height))
        self.sentiment.update(_sentiment_sums(sim, scenario))
        return blocks, truth


def _event_blocks(
    lines: pl.DataFrame, first_day: date
) -> Iterable[tuple[str, Callable[[bytes], bytes], bytes, int]]:
    packers: dict[str, Callable[[bytes], bytes]] = {
        "segment": _gzip,
        "amplitude": _gzip,
        "mixpanel": _zstd,
    }
    groups = lines.partition_by("source", "export_day", as_dict=True, maintain_order=True)
    for (source, day), part in groups.items():
        assert isinstance(source, int)
        assert isinstance(day, int)
        name = SOURCES[source]
        stamp = (first_day + timedelta(days=day)).isoformat()
        buffer = io.BytesIO()
        part.select("line").write_csv(buffer, include_header=False, quote_style="never")
        yield _EVENT_FILES[name].format(day=stamp), packers[name], buffer.getvalue(), part.height


def _chunk_counts(sim: SimulatedChunk, truth: pl.DataFrame, activity_rows: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    counts["activities"] = activity_rows
    counts["deal_stage_changes"] = sim.deals.height
    counts["survey_responses"] = sim.surveys.height
    summary = truth.group_by("persona").agg(
        persons=pl.len(),
        loops=pl.col("has_loop").sum(),
        window_open=pl.col("window_open_at_end").sum(),
        in_progress=pl.col("in_progress_at_end").sum(),
        not_linked=(~pl.col("is_linked_to_contact")).sum(),
        on_disk=pl.col("persons_on_disk").sum(),
        **{f"skip_{s}": pl.col("skipped_stages").list.contains(s).sum() for s in STAGES},
        **{f"reach_{s}": pl.col("stage_path").list.contains(s).sum() for s in STAGES},
        **{f"furthest_{s}": (pl.col("furthest_stage") == s).sum() for s in STAGES},
    )
    for row in summary.iter_rows(named=True):
        persona = row.pop("persona")
        for key, value in row.items():
            counts[f"{persona}|{key}"] += int(value)
    tickets = sim.activities.filter(pl.col("code") == _TICKET_OPENED)
    for (visit,), part in tickets.partition_by("visit", as_dict=True).items():
        assert isinstance(visit, int)
        counts[f"tickets|{STAGES[visit]}"] += part.height
    return counts


_TICKET_OPENED: Final = next(
    i for i, a in enumerate(CRM_ACTIVITIES) if a.canonical == "ticket_opened"
)


def _sentiment_sums(sim: SimulatedChunk, scenario: Scenario) -> Counter[str]:
    sums: Counter[str] = Counter()
    persona = sim.persons["persona"].to_numpy()
    frame = sim.surveys.select(
        "survey",
        "score",
        persona=pl.Series(persona[sim.surveys["p"].to_numpy()]),
    )
    grouped = frame.group_by("survey", "persona").agg(
        n=pl.len(), total=pl.col("score").cast(pl.Int64).sum()
    )
    for row in grouped.iter_rows(named=True):
        key = f"{SURVEYS[row['survey']]}|{scenario.personas[row['persona']].id}"
        sums[f"{key}|n"] += int(row["n"])
        sums[f"{key}|total"] += int(row["total"])
    return sums


def _ground_truth(
    scenario: Scenario,
    *,
    persons: int,
    seed: int,
    start: date,
    end: date,
    totals: Counter[str],
    sentiment: Counter[str],
    lines: Counter[str],
) -> dict[str, Any]:
    ids = [p.id for p in scenario.personas]
    per_persona: dict[str, dict[str, Any]] = {}
    for pid in ids:
        per_persona[pid] = {
            "persons": totals[f"{pid}|persons"],
            "with_loop": totals[f"{pid}|loops"],
            "window_open_at_end": totals[f"{pid}|window_open"],
            "in_progress_at_end": totals[f"{pid}|in_progress"],
            "skipped": {s: totals[f"{pid}|skip_{s}"] for s in ("onboard", "evaluate")},
            "reached": {s: totals[f"{pid}|reach_{s}"] for s in STAGES},
            "furthest": {s: totals[f"{pid}|furthest_{s}"] for s in STAGES},
        }

    def total(key: str) -> int:
        return sum(totals[f"{pid}|{key}"] for pid in ids)

    sentiment_out: dict[str, Any] = {}
    for survey in SURVEYS:
        by_persona: dict[str, Any] = {}
        n_all = total_all = 0
        weighted = 0.0
        for p in scenario.personas:
            n = sentiment[f"{survey}|{p.id}|n"]
            s = sentiment[f"{survey}|{p.id}|total"]
            mean = getattr(p.survey_means, survey)
            by_persona[p.id] = {
                "parameter_mean": mean,
                "realised_mean": round(s / n, 4) if n else None,
                "responses": n,
            }
            n_all += n
            total_all += s
            weighted += n * mean
        sentiment_out[SURVEY_STAGE[survey]] = {
            "survey": survey,
            "responses": n_all,
            "parameter_mean": round(weighted / n_all, 4) if n_all else None,
            "realised_mean": round(total_all / n_all, 4) if n_all else None,
            "by_persona": by_persona,
        }

    malformed = {s: totals[f"malformed_{s}"] for s in ("segment", "amplitude")}
    unknown = {name: totals[f"unknown_{name}"] for name in ("test_event", "btn_clk_v2")}
    product_read = sum(totals[f"lines_{s}"] for s in SOURCES)
    product_loaded = sum(totals[f"events_{s}"] for s in SOURCES)
    duplicates = totals["duplicate_lines_within_file"] + totals["duplicates_across_files"]
    bad_dates = totals["unparseable_dates"]
    activities_loaded = totals["activities"] - bad_dates

    def table(read: int, loaded: int, rejected: int = 0, dup: int = 0) -> dict[str, int]:
        return {"rows_read": read, "loaded": loaded, "rejected": rejected, "duplicates": dup}

    return {
        "generator": {
            "seed": seed,
            "persons": persons,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "as_of": f"{end.isoformat()}T23:59:59Z",
        },
        "parameters": scenario.to_json(),
        "stages": list(STAGES),
        "persons": persons,
        "personas": {pid: per_persona[pid]["persons"] for pid in ids},
        "persons_with_loop": total("loops"),
        "persons_with_skip": {s: total(f"skip_{s}") for s in ("onboard", "evaluate")},
        "persons_window_open_at_end": total("window_open"),
        "persons_in_progress_at_end": total("in_progress"),
        "persons_not_linked_to_contact": total("not_linked"),
        "persons_on_disk": total("on_disk"),
        "by_persona": per_persona,
        "tickets_opened": {s: totals[f"tickets|{s}"] for s in STAGES[1:]},
        "sentiment": sentiment_out,
        "planted": {
            "duplicate_lines_within_file": totals["duplicate_lines_within_file"],
            "duplicates_across_files": totals["duplicates_across_files"],
            "late_arrivals": totals["late_arrivals"],
            "equal_timestamps": totals["equal_timestamps"],
            "malformed_lines": sum(malformed.values()),
            "malformed_lines_by_source": malformed,
            "unparseable_dates": bad_dates,
            "unknown_events": sum(unknown.values()),
            "unknown_events_by_name": unknown,
            "offset_timestamps": totals["offset_timestamps"],
        },
        "expected": {
            "product_events": table(
                product_read, product_loaded, sum(malformed.values()), duplicates
            ),
            "product_events_loaded_by_source": {s: totals[f"events_{s}"] for s in SOURCES},
            "crm_contacts": table(persons, persons),
            "crm_activities": table(totals["activities"], activities_loaded, bad_dates),
            "crm_deal_stage_changes": table(
                totals["deal_stage_changes"], totals["deal_stage_changes"]
            ),
            "crm_survey_responses": table(totals["survey_responses"], totals["survey_responses"]),
            "rejected": sum(malformed.values()) + bad_dates,
            "rejected_by_kind": {
                "malformed_json": sum(malformed.values()),
                "unparseable_date": bad_dates,
            },
            "duplicates_dropped": duplicates,
        },
        "files": dict(sorted(lines.items())),
    }
