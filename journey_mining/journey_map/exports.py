"""CSV exports of the tables behind the journey map, and every output of a period in one call.

The exports are aggregates: counts, rates and intervals per journey, persona, cohort and stage.
No column that names or keys a person is ever written (:data:`PERSON_COLUMNS` are refused), so
the files are pseudonymous by construction and can leave the data team.

:func:`write_outputs` writes a period's files under ``<output_dir>/<journey_id>/<YYYY-MM>/``:
``journey_map.json`` (every persona view, versioned schema), ``journey_map.html`` (the
self-contained map with a persona and period switcher), ``review.md`` and ``csv/*.csv``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl

from journey_mining.journey_map.document import (
    ValuePerConversion,
    build_journey_maps,
    figure_tables,
    journey_map_collection,
    validate_journey_map,
)
from journey_mining.journey_map.html import SvgSource, render_html
from journey_mining.journey_map.review import render_review
from journey_mining.journey_map.snapshot import snapshot, snapshot_periods, validate_period
from journey_mining.journey_model import JourneyModel

__all__ = ["PERSON_COLUMNS", "export_csv", "write_outputs"]

PERSON_COLUMNS: Final = frozenset(
    {
        "person_key",
        "user_id",
        "anonymous_id",
        "previous_id",
        "contact_id",
        "external_id",
        "email",
        "first_name",
        "last_name",
        "full_name",
        "phone",
        "traits",
        "properties",
    }
)
"""Columns that identify a person; an export never contains them."""

JsonDict = dict[str, Any]


def _safe(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in frame.columns if c.lower() in PERSON_COLUMNS])


def _flat_kpis(documents: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    rows = [
        {
            "persona_id": doc["persona"]["id"],
            "stage_id": stage["id"],
            "owner": kpi["owner"],
            "metric": kpi["metric"],
            "op": kpi["op"],
            "target": str(kpi["target"]),
            "target_value": kpi["target_value"],
            "unit": kpi["unit"],
            "actual": kpi["actual"],
            "n": kpi["n"],
            "low": kpi["low"],
            "high": kpi["high"],
            "status": kpi["status"],
        }
        for doc in documents
        for stage in doc["stages"]
        for kpi in stage["kpis"]
    ]
    return pl.DataFrame(rows, infer_schema_length=None)


def _flat_opportunities(documents: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    rows = [
        {
            "persona_id": doc["persona"]["id"],
            "rank": item["rank"],
            "stage_id": item["stage_id"],
            "owner": item["owner"],
            "persons_lost": item["persons_lost"],
            "n": item["n"],
            "share_of_lost": item["share_of_lost"],
            "value_per_conversion": item["value_per_conversion"],
            "value_at_stake": item["value_at_stake"],
            "ideas": "; ".join(item["ideas"]),
            "kpi_misses": ", ".join(item["kpi_misses"]),
        }
        for doc in documents
        for item in doc["opportunities"]
    ]
    return pl.DataFrame(rows, infer_schema_length=None)


def _flat_changes(documents: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    rows = []
    for doc in documents:
        comparison = doc["comparison"]
        every = [*comparison["changes"], *(c for s in doc["stages"] for c in s["changes"])]
        rows += [
            {
                "persona_id": doc["persona"]["id"],
                "metric": change["metric"],
                "stage_id": change["stage_id"],
                "cohort": comparison["cohort"],
                "previous_period": comparison["previous_month"],
                "previous_cohort": comparison["previous_cohort"],
                "successes": change["current"]["successes"],
                "n": change["current"]["n"],
                "rate": change["current"]["rate"],
                "previous_successes": change["previous"]["successes"],
                "previous_n": change["previous"]["n"],
                "previous_rate": change["previous"]["rate"],
                "delta": change["delta"],
                "p_value": change["p_value"],
                "significant": change["significant"],
            }
            for change in every
        ]
    return pl.DataFrame(rows, infer_schema_length=None)


def export_csv(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | os.PathLike[str],
    journey_id: str,
    period: str,
    documents: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write the tables behind a journey's map for ``period`` as CSV files in ``out_dir``.

    One file per ``mining`` table (the period's snapshot when there is one, else the live
    table; rows of ``journey_id`` only), plus ``kpis.csv``, ``opportunities.csv`` and
    ``changes.csv`` flattened from the period's documents (built when not given).

    Returns
    -------
    dict of str to Path
        File stem to path, e.g. ``{"stage_funnel": .../csv/stage_funnel.csv, ...}``.
    """
    validate_period(period)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    frames: dict[str, pl.DataFrame] = dict(figure_tables(con, journey_id, period))
    docs = list(documents) if documents is not None else build_journey_maps(con, journey_id, period)
    frames["kpis"] = _flat_kpis(docs)
    frames["opportunities"] = _flat_opportunities(docs)
    frames["changes"] = _flat_changes(docs)
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        _safe(frame).write_csv(path)
        written[name] = path
    return written


def write_outputs(
    con: duckdb.DuckDBPyConnection,
    output_dir: str | os.PathLike[str],
    journey_id: str,
    period: str,
    *,
    snapshot_date: date | None = None,
    take_snapshot: bool = True,
    force: bool = False,
    history: int = 12,
    process_maps: Mapping[str, SvgSource] | None = None,
    model: JourneyModel | None = None,
    alpha: float = 0.05,
    min_n: int = 30,
    value_per_conversion: ValuePerConversion = 1.0,
    top_paths: int = 10,
    generated_at: datetime | None = None,
) -> dict[str, Path]:
    """Snapshot the period and write its journey map, review and CSV files.

    Parameters
    ----------
    con
        A connection to the journeymap database; writable when ``take_snapshot``.
    output_dir
        The output root; files go to ``<output_dir>/<journey_id>/<period>/``.
    journey_id, period
        The journey and the month under review (``YYYY-MM``).
    snapshot_date, force
        Passed to :func:`~journey_mining.journey_map.snapshot.snapshot` (a period already
        snapshotted is kept unless ``force``).
    take_snapshot
        Snapshot the ``mining`` tables first (default); without, the period's existing
        snapshot or the live tables are read.
    history
        How many earlier snapshot periods the page's period selector offers besides this one.
    process_maps
        Process model SVG (text or file) per persona id, for the page.
    model, alpha, min_n, value_per_conversion, top_paths, generated_at
        As for :func:`~journey_mining.journey_map.document.build_journey_map`.

    Returns
    -------
    dict of str to Path
        ``json``, ``html``, ``review`` and ``csv/<name>`` for each CSV file.
    """
    validate_period(period)
    if take_snapshot:
        snapshot(con, period, snapshot_date, force=force)
    options: JsonDict = {
        "model": model,
        "alpha": alpha,
        "min_n": min_n,
        "value_per_conversion": value_per_conversion,
        "top_paths": top_paths,
        "generated_at": generated_at,
    }
    documents = build_journey_maps(con, journey_id, period, **options)
    earlier = [p for p in snapshot_periods(con, journey_id) if p < period][-history:]
    past = [d for p in earlier for d in build_journey_maps(con, journey_id, p, **options)]
    for doc in (*documents, *past):
        validate_journey_map(doc)
    folder = Path(output_dir) / journey_id / period
    folder.mkdir(parents=True, exist_ok=True)
    collection = journey_map_collection(documents)
    validate_journey_map(collection)
    paths = {
        "json": folder / "journey_map.json",
        "html": folder / "journey_map.html",
        "review": folder / "review.md",
    }
    paths["json"].write_text(
        json.dumps(collection, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    paths["html"].write_text(
        render_html([*documents, *past], process_maps=process_maps), encoding="utf-8"
    )
    paths["review"].write_text(render_review(documents), encoding="utf-8")
    csv = export_csv(con, folder / "csv", journey_id, period, documents)
    return {**paths, **{f"csv/{name}": path for name, path in csv.items()}}
