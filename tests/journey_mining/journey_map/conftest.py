"""A small journeymap database built by hand: marts for one journey and mining tables whose
every figure is distinct, so a test can tell which row a document figure came from.

Journey ``trip``: stages look -> book -> pay; personas ``solo`` and ``family`` (plus ``all``);
entry cohorts 2025-12, 2026-01, 2026-02 (plus ``all``). A second journey, ``other``, has rows
in every mining table and must never leak into ``trip``'s outputs.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.reference.marts import add_attempt_columns_to_visits

JOURNEY = "trip"
STAGES = ("look", "book", "pay")
STAGE_NAMES = {"look": "Look around", "book": "Book a trip", "pay": "Pay"}
OWNERS = {"look": "Marketing", "book": "Product", "pay": "Payments"}
PERSONAS = ("solo", "family")
VIEWS = ("all", *PERSONAS)
MODEL_HASH = "a" * 64
AS_OF = datetime(2026, 2, 28, 23, 0, 0)

LAYERS = {
    "look": {
        "actions": ["Browses destinations"],
        "thoughts": ["Can I afford this?"],
        "emotion": {"score": 1, "label": "curious"},
        "pain_points": ["Prices appear late"],
        "opportunities": ["Show prices on the first page"],
    },
    "book": {
        "actions": ["Fills in the booking form"],
        "thoughts": ["Too many fields"],
        "emotion": {"score": -1, "label": "annoyed"},
        "pain_points": ["Long form"],
        "opportunities": ["Shorter form"],
    },
    "pay": {
        "actions": ["Pays by card"],
        "thoughts": ["Is this secure?"],
        "emotion": {"score": 2, "label": "relieved"},
        "pain_points": [],
        "opportunities": ["Wallet payments"],
    },
}
KPIS = {
    "look": [
        {"metric": "conversion_to_next", "op": "gte", "target": 0.5, "target_value": 0.5},
        {"metric": "median_time_to_next", "op": "lte", "target": "1d", "target_value": 86400.0},
    ],
    "book": [
        {"metric": "conversion_to_next", "op": "gte", "target": 0.99, "target_value": 0.99},
        {"metric": "drop_off_rate", "op": "lte", "target": 0.9, "target_value": 0.9},
        {"metric": "ticket_rate_per_100", "op": "lte", "target": 5.0, "target_value": 5.0},
    ],
    "pay": [
        {"metric": "csat_mean", "op": "gte", "target": 4.5, "target_value": 4.5},
        {"metric": "nps", "op": "gte", "target": 10.0, "target_value": 10.0},
    ],
}


def _wilson(x: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    z = 1.959963984540054
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def funnel_frame(
    cohorts: dict[str, bool],
    overrides: dict[tuple[str, str, str], tuple[int, int]] | None = None,
    journey: str = JOURNEY,
) -> pl.DataFrame:
    """mining.stage_funnel rows; ``cohorts`` maps entry month -> matured; ``overrides`` sets
    (converted, conversion_n) of (persona, cohort, stage)."""
    rows = []
    for pi, persona in enumerate(VIEWS):
        for ci, cohort in enumerate([*cohorts, "all"]):
            matured = cohorts.get(cohort, False)
            entered = 200 + 17 * pi + 5 * ci
            for step, stage in enumerate(STAGES, start=1):
                reached = entered - 40 * (step - 1) - pi
                final = step == len(STAGES)
                converted = dropped = progress = n = None
                if not final:
                    progress = 0 if matured else 3 + ci
                    converted = reached - 30 - 7 * step - pi
                    dropped = reached - converted - progress
                    if overrides and (persona, cohort, stage) in overrides:
                        converted, n = overrides[(persona, cohort, stage)]
                        dropped = n - converted
                    n = converted + dropped
                low, high = _wilson(converted, n) if n else (None, None)
                rows.append(
                    {
                        "journey_id": journey,
                        "persona_id": persona,
                        "cohort": cohort,
                        "stage_id": stage,
                        "stage_order": step,
                        "step": step,
                        "entered": entered,
                        "reached": reached,
                        "reached_any": reached + 2 + step,
                        "converted": converted,
                        "dropped": dropped,
                        "in_progress": progress,
                        "conversion_n": n,
                        "conversion_rate": converted / n if n else None,
                        "conversion_low": low,
                        "conversion_high": high,
                        "lost_here": 0 if final else 11 * step + 3 * pi + ci,
                        "open_here": 0 if final else step + pi,
                    }
                )
    return pl.DataFrame(rows, infer_schema_length=None)


def _breakdowns(cohorts: list[str], journey: str) -> Iterator[tuple[int, str, int, str]]:
    for pi, persona in enumerate(VIEWS):
        for ci, cohort in enumerate([*cohorts, "all"]):
            yield pi, persona, ci, cohort


def timing_frame(cohorts: list[str], journey: str = JOURNEY) -> pl.DataFrame:
    rows = [
        {
            "journey_id": journey,
            "persona_id": persona,
            "cohort": cohort,
            "stage_id": stage,
            "stage_order": step,
            "step": step,
            "next_stage_id": STAGES[step],
            "converters": 90 + 10 * pi + ci + step,
            "median_hours": 5.5 + pi + 0.25 * ci + 20 * (step - 1),
            "p90_hours": 40.0 + pi + ci + step,
            "km_n": 150 + pi + ci + step,
            "km_median_hours": None if step == 2 else 7.75 + pi + ci,
            "dropoffs": 30 + pi + ci + step,
            "dropoff_median_hours_in_stage": 1.5 + pi + ci + step,
        }
        for pi, persona, ci, cohort in _breakdowns(cohorts, journey)
        for step, stage in enumerate(STAGES[:-1], start=1)
    ]
    return pl.DataFrame(rows, infer_schema_length=None)


def sentiment_frame(cohorts: list[str], journey: str = JOURNEY) -> pl.DataFrame:
    rows = []
    for pi, persona, ci, cohort in _breakdowns(cohorts, journey):
        for step, stage in enumerate(STAGES, start=1):
            for metric, value, n in (
                (
                    "nps",
                    12.5 + pi + ci if stage == "pay" else None,
                    40 + pi if stage == "pay" else 0,
                ),
                (
                    "csat",
                    3.5 + 0.1 * pi + 0.01 * ci if stage != "look" else None,
                    60 + ci if stage != "look" else 0,
                ),
                ("ces", None, 0),
                ("tickets_per_100", 2.0 + 3 * step + 0.1 * pi + 0.01 * ci, 180 + pi + ci + step),
            ):
                rows.append(
                    {
                        "journey_id": journey,
                        "persona_id": persona,
                        "cohort": cohort,
                        "stage_id": stage,
                        "stage_order": step,
                        "metric": metric,
                        "n": n,
                        "value": value,
                        "low": None if value is None else value - 0.5,
                        "high": None if value is None else value + 0.5,
                    }
                )
    return pl.DataFrame(rows, infer_schema_length=None)


def per_persona_frames(journey: str = JOURNEY) -> dict[str, pl.DataFrame]:
    variants, dfg, loops, conformance, deviations = [], [], [], [], []
    for pi, persona in enumerate(VIEWS):
        shapes = [
            ("look", 100 + pi, 0),
            ("look > book", 60 + pi, 0),
            ("look > book > pay", 30 + pi, 30 + pi),
        ]
        total = sum(p for _, p, _ in shapes)
        cumulative = 0.0
        for rank, (variant, persons, converted) in enumerate(shapes, start=1):
            share = persons / total
            cumulative += share
            variants.append(
                {
                    "journey_id": journey,
                    "persona_id": persona,
                    "rank": rank,
                    "variant": variant,
                    "n_stages": variant.count(">") + 1,
                    "persons": persons,
                    "share": share,
                    "cumulative_share": cumulative,
                    "in_top_80": cumulative - share < 0.8,
                    "converted": converted,
                    "dropped": persons - converted - 1 if not converted else 0,
                    "in_progress": 1 if not converted else 0,
                    "distinct_variants": len(shapes),
                }
            )
        for source, target, transitions, seconds in (
            ("__start__", "look", 190 + pi, None),
            ("look", "book", 90 + pi, 3600.0 * (pi + 1)),
            ("book", "look", 7 + pi, 7200.0),
            ("book", "pay", 30 + pi, 1800.0),
            ("look", "__end__", 100 + pi, None),
            ("pay", "__end__", 30 + pi, None),
        ):
            dfg.append(
                {
                    "journey_id": journey,
                    "persona_id": persona,
                    "source": source,
                    "target": target,
                    "transitions": transitions,
                    "persons": transitions - (1 if source == "book" and target == "look" else 0),
                    "median_seconds": seconds,
                }
            )
        for step, stage in enumerate(STAGES, start=1):
            loops.append(
                {
                    "journey_id": journey,
                    "persona_id": persona,
                    "stage_id": stage,
                    "designed_position": step,
                    "reached": 190 - 50 * step + pi,
                    "loops": 3 * step + pi,
                    "loop_rate": (3 * step + pi) / (190 - 50 * step + pi),
                    "skipped": step - 1,
                    "reached_later": 0 if step == 3 else 60 - 10 * step,
                    "skip_rate": None if step == 3 else (step - 1) / (60 - 10 * step),
                }
            )
        conformance.append(
            {
                "journey_id": journey,
                "persona_id": persona,
                "persons": total,
                "fitness": 0.61 + 0.01 * pi,
                "log_fitness": 0.62 + 0.01 * pi,
                "perfectly_fitting": 30 + pi,
                "perfectly_fitting_share": (30 + pi) / total,
                "on_designed_path": total - 5,
                "on_designed_path_share": (total - 5) / total,
            }
        )
        deviations.append(
            {
                "journey_id": journey,
                "persona_id": persona,
                "deviation": "repeated_stage",
                "stage_id": "look",
                "designed_position": 1,
                "persons_exposed": 150 + pi,
                "persons_affected": 7 + pi,
                "converted": 1,
                "in_progress": 1,
                "lost_after": 5 + pi,
                "lost_share": (5 + pi) / (6 + pi),
                "unaffected_lost_share": 0.5,
            }
        )
    return {
        "stage_variants": pl.DataFrame(variants),
        "stage_dfg": pl.DataFrame(dfg, infer_schema_length=None),
        "loops_and_skips": pl.DataFrame(loops, infer_schema_length=None),
        "conformance": pl.DataFrame(conformance),
        "deviations": pl.DataFrame(deviations),
    }


def store(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Replace mining.<name> with ``frame``."""
    con.execute("create schema if not exists mining")
    con.register("_frame", frame.to_arrow())
    con.execute(f"create or replace table mining.{name} as select * from _frame")
    con.unregister("_frame")


def fill_mining(
    con: duckdb.DuckDBPyConnection,
    cohorts: dict[str, bool],
    overrides: dict[tuple[str, str, str], tuple[int, int]] | None = None,
) -> None:
    """Write every mining table of ``trip`` (and of ``other``) for one period's state."""
    store(
        con,
        "stage_funnel",
        pl.concat([funnel_frame(cohorts, overrides), funnel_frame(cohorts, journey="other")]),
    )
    store(
        con,
        "stage_timing",
        pl.concat([timing_frame(list(cohorts)), timing_frame(list(cohorts), "other")]),
    )
    store(
        con,
        "stage_sentiment",
        pl.concat([sentiment_frame(list(cohorts)), sentiment_frame(list(cohorts), "other")]),
    )
    mine, theirs = per_persona_frames(), per_persona_frames("other")
    for name, frame in mine.items():
        store(con, name, pl.concat([frame, theirs[name]]))


T0 = datetime(2026, 1, 5, 10, 0, 0)
T1 = datetime(2026, 2, 10, 9, 0, 0)


def _marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute("create schema staging")
    stages = pl.DataFrame(
        [
            {
                "journey_id": JOURNEY,
                "stage_id": stage,
                "stage_order": step,
                "stage_name": STAGE_NAMES[stage],
                "owner": OWNERS[stage],
                "layers": json.dumps(LAYERS[stage]),
                "kpis": json.dumps(KPIS[stage]),
                "journey_name": "Trip booking",
                "designed_path": json.dumps(list(STAGES)),
                "designed_position": step,
                "is_final_stage": step == len(STAGES),
                "window_seconds": 30 * 86400,
                "as_of_at": AS_OF,
            }
            for step, stage in enumerate(STAGES, start=1)
        ]
    )
    con.register("_stages", stages.to_arrow())
    con.execute("create table marts.dim_journey_stages as select * from _stages")
    con.execute(
        "create table staging.stg_journey__models as select * from (values "
        "('trip', 'Trip booking', 'Travellers planning a holiday', 'Find, book and pay a trip', "
        '\'["look", "book", "pay"]\', \'pay\', ?, 2592000)) '
        "as t(journey_id, journey_name, actor, scenario, designed_path, final_stage_id, "
        "model_hash, window_seconds)",
        [MODEL_HASH],
    )
    con.execute(
        "create table staging.stg_journey__personas as select * from (values "
        "('trip', 'solo', 1, 'Solo traveller', 'Travels alone'), "
        "('trip', 'family', 2, 'Family', 'Two adults and children')) "
        "as t(journey_id, persona_id, persona_order, persona_name, description)"
    )
    day = timedelta(days=1)
    con.execute(
        "create table marts.fct_journeys (person_key varchar, journey_id varchar, "
        "attempt_number integer, persona_id varchar, stage_path varchar, status varchar, "
        "entered_at timestamp, window_closes_at timestamp, as_of_at timestamp)"
    )
    con.executemany(
        "insert into marts.fct_journeys values (?, 'trip', 1, ?, ?, ?, ?, ?, ?)",
        [
            ["u:p1", "solo", "look > book", "dropped", T0, T0 + 30 * day, AS_OF],
            ["u:p2", "family", "look", "in_progress", T1, T1 + 30 * day, AS_OF],
        ],
    )
    con.execute(
        "create table marts.fct_stage_visits (person_key varchar, journey_id varchar, "
        "attempt_number integer, visit_number integer, stage_id varchar, persona_id varchar, "
        "stage_order integer, visited_at timestamp, next_visit_at timestamp)"
    )
    con.executemany(
        "insert into marts.fct_stage_visits values (?, 'trip', 1, ?, ?, ?, ?, ?, ?)",
        [
            ["u:p1", 1, "look", "solo", 1, T0, T0 + day],
            ["u:p1", 2, "book", "solo", 2, T0 + day, None],
            ["u:p2", 1, "look", "family", 1, T1, None],
        ],
    )
    con.execute(
        "create table marts.fct_activities (event_id varchar, person_key varchar, "
        "event varchar, ts timestamp, channel varchar)"
    )
    hour = timedelta(hours=1)
    con.executemany(
        "insert into marts.fct_activities values (?, ?, ?, ?, ?)",
        [
            ["e0", "u:p1", "email_sent", T0 - day, "email"],
            ["e1", "u:p1", "Page Viewed", T0, "web"],
            ["e2", "u:p1", "email_clicked", T0 + hour, "email"],
            ["e3", "u:p1", "Booking Started", T0 + day, "web"],
            ["e4", "u:p1", "Dashboard Viewed", T0 + 2 * day, "app"],
            ["e5", "u:p1", "Page Viewed", T0 + 40 * day, "web"],
            ["e6", "u:p2", "Page Viewed", T1, "web"],
            ["e7", "u:p2", "ticket_opened", T1 + 5 * day, "support"],
        ],
    )
    add_attempt_columns_to_visits(con)


@dataclass(frozen=True)
class MapDb:
    """The hand-built database file and helpers to change its mining state."""

    path: Path

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=read_only)


PERIOD_STATES: dict[str, dict[str, bool]] = {
    "2026-01": {"2025-12": True, "2026-01": False},
    "2026-02": {"2025-12": True, "2026-01": True, "2026-02": False},
}
"""Which entry cohorts exist, and whether they have matured, at the end of each period."""

OVERRIDES: dict[str, dict[tuple[str, str, str], tuple[int, int]]] = {
    "2026-01": {("solo", "2025-12", "look"): (45, 100), ("solo", "2025-12", "book"): (15, 40)},
    "2026-02": {("solo", "2026-01", "look"): (60, 100), ("solo", "2026-01", "book"): (25, 29)},
}
"""solo/look: 45/100 -> 60/100 (p = 0.0337, significant); solo/book: 15/40 -> 25/29 (p tiny,
but n = 29 is below the default minimum of 30)."""


@pytest.fixture(scope="session")
def _base_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from datetime import date  # noqa: PLC0415

    from journey_mining.journey_map.snapshot import snapshot  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("journey_map_db")
    one, two = folder / "one.duckdb", folder / "two.duckdb"
    with duckdb.connect(str(one)) as con:
        _marts(con)
        fill_mining(con, PERIOD_STATES["2026-02"], OVERRIDES["2026-02"])
    with duckdb.connect(str(two)) as con:
        _marts(con)
        fill_mining(con, PERIOD_STATES["2026-01"], OVERRIDES["2026-01"])
        snapshot(con, "2026-01", date(2026, 2, 1))
        fill_mining(con, PERIOD_STATES["2026-02"], OVERRIDES["2026-02"])
    return {"map_db": one, "two_periods": two}


@pytest.fixture
def map_db(tmp_path: Path, _base_files: dict[str, Path]) -> MapDb:
    """The hand-built database with the mining tables of period 2026-02 and no snapshot."""
    path = tmp_path / "map.duckdb"
    shutil.copyfile(_base_files["map_db"], path)
    return MapDb(path)


@pytest.fixture
def two_periods(tmp_path: Path, _base_files: dict[str, Path]) -> MapDb:
    """As ``map_db``, but period 2026-01 was snapshotted (on 2026-02-01) before the mining
    tables moved on to 2026-02."""
    path = tmp_path / "two_periods.duckdb"
    shutil.copyfile(_base_files["two_periods"], path)
    return MapDb(path)
