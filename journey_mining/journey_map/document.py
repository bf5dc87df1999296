"""The journey map document: one journey, one persona (or ``"all"``), one period, as JSON data.

The document gathers, per stage of the designed path, every quantitative layer the ``mining``
tables hold (funnel, time to next stage, sentiment, loops and skips) with its sample size and
interval, the channel mix and top actions, and the qualitative layers of the journey model
(actions, thoughts, emotion, pain points, opportunities, owner, KPI targets with the measured
figure). Journey-wide it adds the top paths, the directly-follows graph, conformance and
deviations, the opportunities ranked by persons lost, and the changes since the previous
period's snapshot. It validates against ``schema/journey_map.schema.json``
(:data:`SCHEMA_VERSION`).

Which figures, and how they are compared:

- A period's figures are its snapshot (:mod:`journey_mining.journey_map.snapshot`) when one
  exists, else the live ``mining`` tables. Stage figures are for one entry cohort, ``"all"``
  by default. Paths, the DFG, conformance, deviations and loops are per persona only.
- Changes compare matured cohorts (FUNNELS.md): the newest entry month with no attempt in
  progress in this period's figures against the newest such month in the previous period's
  snapshot, when it is older. The two cohorts share no attempt, so the pooled two-proportion
  z-test applies; a change is ``significant`` when ``p < alpha`` and both ``n >= min_n``.
- Channel mix and top actions come from ``mining.stage_channel_mix`` and
  ``mining.stage_top_actions`` when the mining refresh stores them (see
  :func:`stage_channel_mix`, :func:`stage_top_actions`); without them, live figures compute
  them from the marts at build time and a snapshot without them shows none.
- Nothing about a person reaches the document: only counts, rates and names of stages,
  events, channels and personas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Any, Final, Literal

import duckdb
import polars as pl

from journey_mining.eventlog import read_sql
from journey_mining.journey_map.snapshot import (
    latest_snapshot_date,
    previous_period,
    read_figures,
    validate_period,
)
from journey_mining.journey_model import JourneyModel, parse_duration
from journey_mining.metrics.attribution import PlacedActivities, placed_activities
from journey_mining.metrics.stats import two_proportion_p_value
from journey_mining.warehouse import Source, Warehouse, as_warehouse

__all__ = [
    "ALL",
    "FIGURE_TABLES",
    "SCHEMA_VERSION",
    "build_journey_map",
    "build_journey_maps",
    "figure_tables",
    "journey_map_collection",
    "journey_map_schema",
    "persona_ids",
    "stage_channel_mix",
    "stage_channel_mix_and_top_actions",
    "stage_top_actions",
    "validate_journey_map",
]

SCHEMA_VERSION: Final = "1.1.0"
ALL: Final = "all"
SENTIMENT_METRICS: Final = ("nps", "csat", "ces", "tickets_per_100")
FIGURE_TABLES: Final = (
    "stage_funnel",
    "stage_timing",
    "stage_sentiment",
    "stage_variants",
    "stage_dfg",
    "loops_and_skips",
    "conformance",
    "deviations",
    "stage_channel_mix",
    "stage_top_actions",
)
_ACTIVITY_TABLES: Final = ("stage_channel_mix", "stage_top_actions")
_KPI_UNITS: Final = {
    "conversion_to_next": "share",
    "drop_off_rate": "share",
    "median_time_to_next": "seconds",
    "p90_time_to_next": "seconds",
    "csat_mean": "score",
    "nps": "score",
    "ticket_rate_per_100": "per 100",
}
_PERSONA_NAMES: Final = {ALL: "All personas", "unassigned": "Unassigned"}

JsonDict = dict[str, Any]
ValuePerConversion = float | Mapping[str, float]


def stage_channel_mix(con: Source) -> pl.DataFrame:
    """Share of each stage's activities by channel, per journey, persona and entry month.

    An activity of ``marts.fct_activities`` belongs to the latest stage visit of its journey
    attempt at or before it, within the attempt's window and as-of time (the rule of
    :mod:`journey_mining.metrics.attribution`, shared with the sentiment line). Activities
    outside every attempt belong to no stage.

    Returns
    -------
    polars.DataFrame
        ``journey_id``, ``persona_id`` and ``cohort`` (each also ``"all"``), ``stage_id``,
        ``channel``, ``activities``, ``persons`` (attempts with an activity on the channel in
        the stage) and ``share`` of the stage's activities.
    """
    warehouse = as_warehouse(con)
    with placed_activities(warehouse) as placed:
        return _channel_mix(warehouse, placed)


def stage_top_actions(con: Source, top: int = 5) -> pl.DataFrame:
    """The ``top`` most frequent event names per stage, journey, persona and entry month.

    Activities are placed in stages as in :func:`stage_channel_mix`.

    Returns
    -------
    polars.DataFrame
        ``journey_id``, ``persona_id``, ``cohort``, ``stage_id``, ``rank`` (1 = most
        frequent; ties by event name), ``event``, ``activities``, ``persons`` and ``share``
        of the stage's activities.
    """
    _check_top(top)
    warehouse = as_warehouse(con)
    with placed_activities(warehouse) as placed:
        return _top_actions(warehouse, placed, top)


def stage_channel_mix_and_top_actions(
    con: Source, top: int = 5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`stage_channel_mix` and :func:`stage_top_actions`, placing the activities once."""
    _check_top(top)
    warehouse = as_warehouse(con)
    with placed_activities(warehouse) as placed:
        return _channel_mix(warehouse, placed), _top_actions(warehouse, placed, top)


def _check_top(top: int) -> None:
    if top < 1:
        msg = f"top must be at least 1, got {top}"
        raise ValueError(msg)


def _channel_mix(warehouse: Warehouse, placed: PlacedActivities) -> pl.DataFrame:
    sql = read_sql("journey_map_channel_mix").format(
        stage_channel_counts=placed.value_counts_sql("channel")
    )
    return warehouse.frame(sql, {"all": ALL})


def _top_actions(warehouse: Warehouse, placed: PlacedActivities, top: int) -> pl.DataFrame:
    sql = read_sql("journey_map_top_actions").format(
        stage_event_counts=placed.value_counts_sql("event")
    )
    return warehouse.frame(sql, {"all": ALL, "top": top})


def journey_map_schema() -> JsonDict:
    """The JSON Schema of the journey map document, shipped with the package."""
    text = (files("journey_mining.journey_map") / "schema" / "journey_map.schema.json").read_text(
        encoding="utf-8"
    )
    schema: JsonDict = json.loads(text)
    return schema


def validate_journey_map(document: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` fits the shipped schema.

    ``document`` is one journey map document, or the collection of a period's documents
    (``{"schema_version", "journey_id", "period", "documents"}``, as ``journey_map.json``).
    """
    import jsonschema  # noqa: PLC0415 (only validation needs it)

    schema = journey_map_schema()
    part = "collection" if "documents" in document else "document"
    target = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}
    jsonschema.Draft202012Validator(target).validate(document)


def journey_map_collection(documents: Sequence[Mapping[str, Any]]) -> JsonDict:
    """The ``journey_map.json`` content: a period's documents of one journey, one per persona."""
    if not documents:
        msg = "a collection needs at least one document"
        raise ValueError(msg)
    keys = {(d["journey"]["id"], d["period"]["month"]) for d in documents}
    if len(keys) != 1:
        msg = f"a collection holds one journey and period, got {sorted(keys)}"
        raise ValueError(msg)
    journey_id, period = keys.pop()
    return {
        "schema_version": SCHEMA_VERSION,
        "journey_id": journey_id,
        "period": period,
        "documents": [dict(d) for d in documents],
    }


@dataclass(frozen=True)
class _Figures:
    """One period's figures of one journey: the snapshot of the period, or the live tables."""

    period: str
    source: Literal["live", "snapshot"]
    snapshot_date: date | None
    as_of: datetime | None
    model_hash: str | None
    tables: Mapping[str, pl.DataFrame]

    def table(self, name: str) -> pl.DataFrame:
        return self.tables.get(name, pl.DataFrame())


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows[0][0])


def _live_activities(con: duckdb.DuckDBPyConnection, name: str, journey_id: str) -> pl.DataFrame:
    if not (_exists(con, "marts", "fct_stage_visits") and _exists(con, "marts", "fct_activities")):
        return pl.DataFrame()
    frame = stage_channel_mix(con) if name == "stage_channel_mix" else stage_top_actions(con)
    return frame.filter(pl.col("journey_id") == journey_id)


def _load_figures(con: duckdb.DuckDBPyConnection, journey_id: str, period: str) -> _Figures:
    snapshot_day = latest_snapshot_date(con, "stage_funnel", period)
    source: Literal["live", "snapshot"] = "snapshot" if snapshot_day is not None else "live"
    tables: dict[str, pl.DataFrame] = {}
    for name in FIGURE_TABLES:
        frame = read_figures(con, name, journey_id, period if source == "snapshot" else None)
        if frame is None and source == "live" and name in _ACTIVITY_TABLES:
            frame = _live_activities(con, name, journey_id)
        tables[name] = frame if frame is not None else pl.DataFrame()
    funnel = tables["stage_funnel"]
    if funnel.is_empty():
        where = f"the snapshot of {period}" if source == "snapshot" else "mining.stage_funnel"
        msg = f"no stage funnel for journey {journey_id!r} in {where}"
        raise ValueError(msg)
    as_of: datetime | None = None
    model_hash: str | None = None
    if source == "snapshot":
        as_of = _first(funnel, "snapshot_as_of")
        model_hash = _first(funnel, "model_hash")
    else:
        if _exists(con, "marts", "dim_journey_stages"):
            rows = con.execute(
                "select max(as_of_at) from marts.dim_journey_stages where journey_id = ?",
                [journey_id],
            ).fetchall()
            as_of = rows[0][0] if rows else None
        model_hash = _model_hash(con, journey_id)
    return _Figures(period, source, snapshot_day, as_of, model_hash, tables)


def figure_tables(
    con: duckdb.DuckDBPyConnection, journey_id: str, period: str
) -> dict[str, pl.DataFrame]:
    """The tables behind a journey's map for ``period``: its snapshot, else the live tables.

    Returns
    -------
    dict of str to polars.DataFrame
        ``mining.<table>`` rows of ``journey_id`` for each of :data:`FIGURE_TABLES` that
        exists (with the snapshot columns when read from a snapshot).
    """
    figures = _load_figures(con, journey_id, validate_period(period))
    return {name: frame for name, frame in figures.tables.items() if frame.width}


def _first(frame: pl.DataFrame, column: str) -> Any:
    if column not in frame.columns or frame.is_empty():
        return None
    return frame.get_column(column).drop_nulls().first()


def _model_hash(con: duckdb.DuckDBPyConnection, journey_id: str) -> str | None:
    for schema, table in (("staging", "stg_journey__models"), ("raw", "journey_models")):
        if _exists(con, schema, table):
            rows = con.execute(
                f"select any_value(model_hash) from {schema}.{table} where journey_id = ?",
                [journey_id],
            ).fetchall()
            return str(rows[0][0]) if rows and rows[0][0] is not None else None
    return None


@dataclass(frozen=True)
class _StageMeta:
    stage_id: str
    name: str
    stage_order: int
    owner: str | None
    layers: JsonDict
    kpis: tuple[JsonDict, ...]
    is_final: bool


@dataclass(frozen=True)
class _JourneyMeta:
    journey_id: str
    name: str
    actor: str
    scenario: str
    expectations: tuple[str, ...]
    owners: tuple[str, ...]
    designed_path: tuple[str, ...]
    window_seconds: int | None
    stages: tuple[_StageMeta, ...]
    personas: Mapping[str, tuple[str, str | None]]


def _json_text(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        return json.loads(value)
    return value


def _layers(raw: Mapping[str, Any]) -> JsonDict:
    emotion = raw.get("emotion")
    return {
        "actions": [str(v) for v in raw.get("actions") or ()],
        "thoughts": [str(v) for v in raw.get("thoughts") or ()],
        "emotion": (
            {"score": int(emotion["score"]), "label": str(emotion["label"])}
            if isinstance(emotion, Mapping)
            else None
        ),
        "pain_points": [str(v) for v in raw.get("pain_points") or ()],
        "opportunities": [str(v) for v in raw.get("opportunities") or ()],
    }


def _model_meta(model: JourneyModel) -> _JourneyMeta:
    final = model.designed_path[-1]
    stages = tuple(
        _StageMeta(
            stage_id=stage.id,
            name=stage.name,
            stage_order=position,
            owner=stage.owner,
            layers=_layers(stage.layers.model_dump()),
            kpis=tuple(
                {
                    "metric": kpi.metric,
                    "op": kpi.op,
                    "target": kpi.target,
                    "target_value": kpi.target_value,
                }
                for kpi in stage.kpis
            ),
            is_final=stage.id == final,
        )
        for position, stage in enumerate(model.stages, start=1)
    )
    return _JourneyMeta(
        journey_id=model.id,
        name=model.name,
        actor=model.actor,
        scenario=model.scenario,
        expectations=tuple(model.expectations),
        owners=tuple(model.owners),
        designed_path=tuple(model.designed_path),
        window_seconds=model.window_seconds,
        stages=stages,
        personas={p.id: (p.name, p.description) for p in model.personas},
    )


def _journey_meta(
    con: duckdb.DuckDBPyConnection, journey_id: str, model: JourneyModel | None
) -> _JourneyMeta:
    from_model = _model_meta(model) if model is not None else None
    if not _exists(con, "marts", "dim_journey_stages"):
        if from_model is None:
            msg = "marts.dim_journey_stages is missing; pass the journey model"
            raise ValueError(msg)
        return from_model
    rows = con.execute(
        "select stage_id, stage_name, stage_order, owner, layers, kpis, journey_name, "
        "designed_path, is_final_stage, window_seconds from marts.dim_journey_stages "
        "where journey_id = ? order by stage_order",
        [journey_id],
    ).fetchall()
    if not rows:
        if from_model is None:
            msg = f"journey {journey_id!r} is not in marts.dim_journey_stages"
            raise ValueError(msg)
        return from_model
    stages = tuple(
        _StageMeta(
            stage_id=str(row[0]),
            name=str(row[1] or row[0]),
            stage_order=int(row[2]),
            owner=row[3],
            layers=_layers(_json_text(row[4], {})),
            kpis=tuple(_json_text(row[5], [])),
            is_final=bool(row[8]),
        )
        for row in rows
    )
    actor, scenario = "", ""
    for schema, table, name_column in (
        ("staging", "stg_journey__models", "journey_name"),
        ("raw", "journey_models", "name"),
    ):
        if _exists(con, schema, table):
            found = con.execute(
                f"select {name_column}, actor, scenario from {schema}.{table} "
                "where journey_id = ? limit 1",
                [journey_id],
            ).fetchall()
            if found:
                actor, scenario = str(found[0][1] or ""), str(found[0][2] or "")
            break
    personas: dict[str, tuple[str, str | None]] = {}
    for schema, table, name_column in (
        ("staging", "stg_journey__personas", "persona_name"),
        ("raw", "journey_personas", "name"),
    ):
        if _exists(con, schema, table):
            for persona_id, persona_name, description in con.execute(
                f"select persona_id, {name_column}, description from {schema}.{table} "
                "where journey_id = ? order by persona_order",
                [journey_id],
            ).fetchall():
                personas[str(persona_id)] = (str(persona_name), description)
            break
    if from_model is not None:
        personas = {**from_model.personas, **personas}
    return _JourneyMeta(
        journey_id=journey_id,
        name=str(rows[0][6] or journey_id),
        actor=actor or (from_model.actor if from_model else ""),
        scenario=scenario or (from_model.scenario if from_model else ""),
        expectations=from_model.expectations if from_model else (),
        owners=from_model.owners if from_model else (),
        designed_path=tuple(_json_text(rows[0][7], [])),
        window_seconds=int(rows[0][9]) if rows[0][9] is not None else None,
        stages=stages,
        personas=personas,
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(frame: pl.DataFrame, **equal: str) -> list[JsonDict]:
    if frame.is_empty():
        return []
    for column, value in equal.items():
        if column not in frame.columns:
            return []
        frame = frame.filter(pl.col(column) == value)
    return [{k: _clean(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _by_stage(rows: Iterable[JsonDict]) -> dict[str, JsonDict]:
    return {str(row["stage_id"]): row for row in rows}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rate(successes: Any, n: Any, rate: Any, low: Any, high: Any) -> JsonDict | None:
    if n is None:
        return None
    return {
        "rate": _float(rate),
        "successes": _int(successes),
        "n": int(n),
        "low": _float(low),
        "high": _float(high),
    }


def _wilson(successes: int, n: int) -> tuple[float | None, float | None]:
    if n <= 0:
        return None, None
    z = 1.959963984540054
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _drop_off(lost: int, still_open: int | None, row: JsonDict) -> JsonDict | None:
    """Lost here among those who reached the stage and are no longer open there.

    An attempt still in progress at the stage is censored (FUNNELS.md): neither lost nor past
    it, so it is left out of the denominator. Snapshots taken before ``open_here`` existed
    cannot give the denominator, so their rate is null rather than understated.
    """
    if still_open is None:
        return None
    n = int(row["reached_any"]) - still_open
    if n <= 0:
        return None
    low, high = _wilson(lost, n)
    return _rate(lost, n, lost / n, low, high)


def _funnel(row: JsonDict | None) -> JsonDict | None:
    if row is None:
        return None
    return {
        "entered": int(row["entered"]),
        "reached": int(row["reached"]),
        "reached_any": int(row["reached_any"]),
        "converted": _int(row["converted"]),
        "dropped": _int(row["dropped"]),
        "in_progress": _int(row["in_progress"]),
        "lost_here": int(row["lost_here"]),
        "open_here": _int(row.get("open_here")),
        "drop_off": _drop_off(int(row["lost_here"]), _int(row.get("open_here")), row),
        "conversion": _rate(
            row["converted"],
            row["conversion_n"],
            row["conversion_rate"],
            row["conversion_low"],
            row["conversion_high"],
        ),
    }


_TIMING_FIELDS: Final = (
    "converters",
    "median_hours",
    "p90_hours",
    "km_median_hours",
    "km_n",
    "dropoffs",
    "dropoff_median_hours_in_stage",
)


def _timing(row: JsonDict | None) -> JsonDict | None:
    if row is None:
        return None
    return {"next_stage_id": row["next_stage_id"], **{k: row.get(k) for k in _TIMING_FIELDS}}


def _sentiment(rows: Iterable[JsonDict]) -> JsonDict:
    found = {
        str(row["metric"]): {
            "value": _float(row["value"]),
            "n": int(row["n"]),
            "low": _float(row["low"]),
            "high": _float(row["high"]),
        }
        for row in rows
    }
    return {metric: found.get(metric) for metric in SENTIMENT_METRICS}


def _measured_emotion(sentiment: JsonDict) -> JsonDict | None:
    csat, nps = sentiment.get("csat"), sentiment.get("nps")
    if csat and csat["value"] is not None:
        return {"score": csat["value"] - 3.0, "source": "csat", "value": csat["value"], **_n(csat)}
    if nps and nps["value"] is not None:
        return {"score": nps["value"] / 50.0, "source": "nps", "value": nps["value"], **_n(nps)}
    return None


def _n(measure: JsonDict) -> JsonDict:
    return {"n": measure["n"]}


def _loops(row: JsonDict | None) -> JsonDict | None:
    if row is None:
        return None
    keys = ("reached", "loops", "loop_rate", "skipped", "reached_later", "skip_rate")
    return {k: row.get(k) for k in keys}


def _kpi_measures(stage: JsonDict) -> dict[str, JsonDict | None]:
    """The measured figure behind each KPI metric, as ``{value, n, low, high}``."""
    funnel, timing, sentiment = stage["funnel"], stage["time_to_next"], stage["sentiment"]
    conversion = funnel["conversion"] if funnel else None
    rate = funnel["drop_off"] if funnel else None
    drop_off = None
    if rate is not None:
        drop_off = {"value": rate["rate"], "n": rate["n"], "low": rate["low"], "high": rate["high"]}

    def seconds(key: str) -> JsonDict | None:
        if not timing or timing[key] is None:
            return None
        return {"value": timing[key] * 3600.0, "n": timing["converters"], "low": None, "high": None}

    return {
        "conversion_to_next": conversion
        and {
            "value": conversion["rate"],
            "n": conversion["n"],
            "low": conversion["low"],
            "high": conversion["high"],
        },
        "drop_off_rate": drop_off,
        "median_time_to_next": seconds("median_hours"),
        "p90_time_to_next": seconds("p90_hours"),
        "csat_mean": sentiment["csat"],
        "nps": sentiment["nps"],
        "ticket_rate_per_100": sentiment["tickets_per_100"],
    }


def _target_value(kpi: Mapping[str, Any]) -> float:
    if kpi.get("target_value") is not None:
        return float(kpi["target_value"])
    target = kpi["target"]
    return float(parse_duration(target)) if isinstance(target, str) else float(target)


def _meets(actual: float, op: str, target: float) -> bool:
    return {
        "gte": actual >= target,
        "lte": actual <= target,
        "gt": actual > target,
        "lt": actual < target,
    }[op]


def _kpis(meta: _StageMeta, stage: JsonDict) -> list[JsonDict]:
    measures = _kpi_measures(stage)
    result = []
    for kpi in meta.kpis:
        metric = str(kpi["metric"])
        target_value = _target_value(kpi)
        measure = measures.get(metric)
        actual = measure["value"] if measure else None
        status = (
            "no_data"
            if actual is None
            else ("met" if _meets(actual, str(kpi["op"]), target_value) else "missed")
        )
        result.append(
            {
                "metric": metric,
                "op": str(kpi["op"]),
                "target": kpi["target"],
                "target_value": target_value,
                "unit": _KPI_UNITS.get(metric, ""),
                "actual": actual,
                "n": measure["n"] if measure else None,
                "low": measure["low"] if measure else None,
                "high": measure["high"] if measure else None,
                "status": status,
                "owner": meta.owner,
            }
        )
    return result


def _pain_points(stage: JsonDict) -> list[JsonDict]:
    funnel, timing = stage["funnel"], stage["time_to_next"]
    loops, tickets = stage["loops_and_skips"], stage["sentiment"]["tickets_per_100"]
    found: list[JsonDict] = []
    if funnel and funnel["drop_off"]:
        found.append(
            {
                "kind": "drop_off",
                "value": funnel["drop_off"]["rate"],
                "count": funnel["lost_here"],
                "n": funnel["drop_off"]["n"],
                "unit": "share",
            }
        )
    if timing and timing["median_hours"] is not None:
        found.append(
            {
                "kind": "stall",
                "value": timing["median_hours"],
                "count": None,
                "n": timing["converters"],
                "unit": "hours",
            }
        )
    if loops and loops["loop_rate"] is not None and loops["reached"]:
        found.append(
            {
                "kind": "loops",
                "value": loops["loop_rate"],
                "count": loops["loops"],
                "n": loops["reached"],
                "unit": "share",
            }
        )
    if loops and loops["skip_rate"] is not None and loops["reached_later"]:
        found.append(
            {
                "kind": "skips",
                "value": loops["skip_rate"],
                "count": loops["skipped"],
                "n": loops["reached_later"],
                "unit": "share",
            }
        )
    if tickets and tickets["value"] is not None:
        found.append(
            {
                "kind": "tickets",
                "value": tickets["value"],
                "count": None,
                "n": tickets["n"],
                "unit": "per 100",
            }
        )
    return found


def _mark_hotspots(stages: list[JsonDict]) -> None:
    worst: dict[str, float] = {}
    for stage in stages:
        for pain in stage["pain_points"]:
            worst[pain["kind"]] = max(worst.get(pain["kind"], 0.0), pain["value"])
    for stage in stages:
        for pain in stage["pain_points"]:
            pain["hotspot"] = pain["value"] > 0 and pain["value"] == worst[pain["kind"]]


def _ordered_stages(meta: _JourneyMeta, figures: _Figures) -> list[_StageMeta]:
    known = {s.stage_id: s for s in meta.stages}
    funnel_ids = [str(s) for s in figures.table("stage_funnel").get_column("stage_id").unique()]
    for stage_id in sorted(set(funnel_ids) - set(known)):
        known[stage_id] = _StageMeta(stage_id, stage_id, 10_000, None, _layers({}), (), False)
    position = {stage_id: i for i, stage_id in enumerate(meta.designed_path)}
    return sorted(
        known.values(),
        key=lambda s: (position.get(s.stage_id, len(position)), s.stage_order, s.stage_id),
    )


def persona_ids(con: duckdb.DuckDBPyConnection, journey_id: str, period: str) -> list[str]:
    """The persona views of a journey in a period: ``"all"``, the model's personas, the rest."""
    figures = _load_figures(con, journey_id, validate_period(period))
    meta = _journey_meta(con, journey_id, None)
    return _persona_order(meta, figures)


def _persona_order(meta: _JourneyMeta, figures: _Figures) -> list[str]:
    present = set(figures.table("stage_funnel").get_column("persona_id").unique().to_list())
    ordered = [ALL, *(p for p in meta.personas if p in present)]
    return ordered + sorted(present - set(ordered))


def _matured_cohort(figures: _Figures) -> str | None:
    funnel = figures.table("stage_funnel")
    cohorts = (
        funnel.filter((pl.col("persona_id") == ALL) & (pl.col("cohort") != ALL))
        .group_by("cohort")
        .agg(open=pl.col("in_progress").fill_null(0).sum())
        .filter(pl.col("open") == 0)
        .get_column("cohort")
    )
    return str(cohorts.max()) if cohorts.len() else None


@dataclass(frozen=True)
class _Comparison:
    info: JsonDict
    current: _Figures | None
    previous: _Figures | None


def _comparison(
    con: duckdb.DuckDBPyConnection,
    journey_id: str,
    figures: _Figures,
    *,
    alpha: float,
    min_n: int,
) -> _Comparison:
    info: JsonDict = {
        "status": "no_previous_snapshot",
        "previous_month": None,
        "previous_snapshot_date": None,
        "cohort": _matured_cohort(figures),
        "previous_cohort": None,
        "model_changed": False,
        "test": "two_proportion_z",
        "alpha": alpha,
        "min_n": min_n,
    }
    month = previous_period(con, journey_id, figures.period)
    if month is None:
        return _Comparison(info, None, None)
    previous = _load_figures(con, journey_id, month)
    info["previous_month"] = month
    info["previous_snapshot_date"] = _clean(previous.snapshot_date)
    info["previous_cohort"] = _matured_cohort(previous)
    info["model_changed"] = (
        previous.model_hash is not None
        and figures.model_hash is not None
        and previous.model_hash != figures.model_hash
    )
    if info["cohort"] is None or info["previous_cohort"] is None:
        info["status"] = "no_matured_cohort"
        return _Comparison(info, None, None)
    if info["previous_cohort"] >= info["cohort"]:
        info["status"] = "no_newer_cohort"
        return _Comparison(info, None, None)
    info["status"] = "compared"
    return _Comparison(info, figures, previous)


def _changes(
    comparison: _Comparison, persona_id: str, *, alpha: float, min_n: int
) -> list[JsonDict]:
    if comparison.current is None or comparison.previous is None:
        return []
    cohort, previous_cohort = comparison.info["cohort"], comparison.info["previous_cohort"]
    pairs: list[tuple[str | None, str, int, int, int, int]] = []
    current = _conversion_counts(comparison.current, persona_id, cohort)
    previous = _conversion_counts(comparison.previous, persona_id, previous_cohort)
    for key in current:
        if key in previous:
            (x1, n1), (x0, n0) = current[key], previous[key]
            stage_id, metric = key
            pairs.append((stage_id, metric, x1, n1, x0, n0))
    if not pairs:
        return []
    frame = pl.DataFrame(
        pairs,
        schema=["stage_id", "metric", "x1", "n1", "x0", "n0"],
        orient="row",
    ).with_columns(p_value=two_proportion_p_value("x1", "n1", "x0", "n0"))
    changes = []
    for row in frame.iter_rows(named=True):
        rate1 = row["x1"] / row["n1"] if row["n1"] else None
        rate0 = row["x0"] / row["n0"] if row["n0"] else None
        p_value = _clean(row["p_value"])
        changes.append(
            {
                "metric": row["metric"],
                "stage_id": row["stage_id"],
                "current": {"rate": rate1, "successes": row["x1"], "n": row["n1"]},
                "previous": {"rate": rate0, "successes": row["x0"], "n": row["n0"]},
                "delta": None if rate1 is None or rate0 is None else rate1 - rate0,
                "p_value": p_value,
                "significant": bool(
                    p_value is not None
                    and p_value < alpha
                    and row["n1"] >= min_n
                    and row["n0"] >= min_n
                ),
            }
        )
    return changes


def _conversion_counts(
    figures: _Figures, persona_id: str, cohort: str
) -> dict[tuple[str | None, str], tuple[int, int]]:
    rows = _rows(figures.table("stage_funnel"), persona_id=persona_id, cohort=cohort)
    counts: dict[tuple[str | None, str], tuple[int, int]] = {}
    for row in rows:
        if row["conversion_n"] is not None:
            counts[(str(row["stage_id"]), "conversion_rate")] = (
                int(row["converted"]),
                int(row["conversion_n"]),
            )
    overall = _overall(rows)
    if overall is not None:
        counts[(None, "overall_conversion")] = (overall[0], overall[1])
    return counts


def _overall(rows: Sequence[JsonDict]) -> tuple[int, int] | None:
    """Attempts that converted (reached the final stage, in any order: the journey's status),
    of those whose outcome is known (converted or lost; the in-progress are censored)."""
    finals = [r for r in rows if r["conversion_n"] is None]
    if not rows or len(finals) != 1:
        return None
    converted = int(finals[0]["reached_any"])
    lost = sum(int(r["lost_here"] or 0) for r in rows)
    return converted, converted + lost


def _paths(figures: _Figures, persona_id: str, top: int) -> JsonDict:
    rows = sorted(_rows(figures.table("stage_variants"), persona_id=persona_id), key=_rank)
    keys = (
        "rank",
        "variant",
        "persons",
        "share",
        "cumulative_share",
        "in_top_80",
        "converted",
        "dropped",
        "in_progress",
    )
    shown = [
        {**{k: row.get(k) for k in keys}, "stages": str(row["variant"]).split(" > ")}
        for row in rows[:top]
    ]
    return {
        "distinct_variants": len(rows) if rows else 0,
        "persons": sum(int(r["persons"]) for r in rows),
        "top_80_variants": sum(1 for r in rows if r.get("in_top_80")),
        "shown_share": sum(float(r["share"]) for r in rows[:top]),
        "variants": shown,
    }


def _rank(row: JsonDict) -> int:
    return int(row["rank"])


def _dfg(figures: _Figures, persona_id: str) -> list[JsonDict]:
    keys = ("source", "target", "transitions", "persons", "median_seconds")
    return [
        {k: r.get(k) for k in keys}
        for r in _rows(figures.table("stage_dfg"), persona_id=persona_id)
    ]


def _conformance(figures: _Figures, persona_id: str) -> JsonDict | None:
    rows = _rows(figures.table("conformance"), persona_id=persona_id)
    if not rows:
        return None
    keys = (
        "persons",
        "fitness",
        "log_fitness",
        "perfectly_fitting",
        "perfectly_fitting_share",
        "on_designed_path",
        "on_designed_path_share",
    )
    return {k: rows[0].get(k) for k in keys}


def _deviations(figures: _Figures, persona_id: str) -> list[JsonDict]:
    keys = (
        "deviation",
        "stage_id",
        "persons_exposed",
        "persons_affected",
        "converted",
        "in_progress",
        "lost_after",
        "lost_share",
        "unaffected_lost_share",
    )
    return [
        {k: r.get(k) for k in keys}
        for r in _rows(figures.table("deviations"), persona_id=persona_id)
    ]


def _value(value_per_conversion: ValuePerConversion, persona_id: str) -> float:
    if isinstance(value_per_conversion, Mapping):
        default = value_per_conversion.get(ALL, 1.0)
        return float(value_per_conversion.get(persona_id, default))
    return float(value_per_conversion)


def _opportunities(stages: Sequence[JsonDict], value: float) -> list[JsonDict]:
    lost_total = sum(s["funnel"]["lost_here"] for s in stages if s["funnel"])
    found = [
        {
            "stage_id": s["id"],
            "stage_name": s["name"],
            "owner": s["owner"],
            "persons_lost": s["funnel"]["lost_here"],
            "n": s["funnel"]["reached_any"],
            "share_of_lost": s["funnel"]["lost_here"] / lost_total if lost_total else None,
            "value_per_conversion": value,
            "value_at_stake": s["funnel"]["lost_here"] * value,
            "ideas": list(s["layers"]["opportunities"]),
            "pain_points": list(s["layers"]["pain_points"]),
            "kpi_misses": [k["metric"] for k in s["kpis"] if k["status"] == "missed"],
        }
        for s in stages
        if s["funnel"] and s["funnel"]["lost_here"] > 0
    ]
    found.sort(key=lambda o: (-o["value_at_stake"], -o["persons_lost"], o["stage_id"]))
    for rank, opportunity in enumerate(found, start=1):
        opportunity["rank"] = rank
    return found


def _summary(funnel_rows: Sequence[JsonDict]) -> JsonDict:
    overall = _overall(funnel_rows)
    entered = int(funnel_rows[0]["entered"]) if funnel_rows else 0
    conversion = None
    if overall is not None:
        low, high = _wilson(*overall)
        conversion = {
            "rate": overall[0] / overall[1] if overall[1] else None,
            "successes": overall[0],
            "n": overall[1],
            "low": low,
            "high": high,
        }
    lost = sum(int(r["lost_here"]) for r in funnel_rows)
    converted = overall[0] if overall else None
    return {
        "entered": entered,
        "converted": converted,
        "in_progress": entered - lost - (converted or 0),
        "lost": lost,
        "overall_conversion": conversion,
    }


def _document(
    meta: _JourneyMeta,
    figures: _Figures,
    comparison: _Comparison,
    persona_id: str,
    personas: Sequence[str],
    *,
    cohort: str,
    alpha: float,
    min_n: int,
    value_per_conversion: ValuePerConversion,
    top_paths: int,
    generated_at: datetime,
) -> JsonDict:
    view = {"persona_id": persona_id, "cohort": cohort}
    funnel_rows = _rows(figures.table("stage_funnel"), **view)
    funnel = _by_stage(funnel_rows)
    timing = _by_stage(_rows(figures.table("stage_timing"), **view))
    sentiment_rows = _rows(figures.table("stage_sentiment"), **view)
    loops = _by_stage(_rows(figures.table("loops_and_skips"), persona_id=persona_id))
    channels = _rows(figures.table("stage_channel_mix"), **view)
    actions = _rows(figures.table("stage_top_actions"), **view)
    changes = _changes(comparison, persona_id, alpha=alpha, min_n=min_n)
    stages: list[JsonDict] = []
    position = {stage_id: i for i, stage_id in enumerate(meta.designed_path, start=1)}
    for stage_meta in _ordered_stages(meta, figures):
        sid = stage_meta.stage_id
        stage_channels = [c for c in channels if c["stage_id"] == sid]
        stage: JsonDict = {
            "id": sid,
            "name": stage_meta.name,
            "position": position.get(sid),
            "owner": stage_meta.owner,
            "is_final": stage_meta.is_final,
            "layers": stage_meta.layers,
            "funnel": _funnel(funnel.get(sid)),
            "time_to_next": _timing(timing.get(sid)),
            "sentiment": _sentiment(r for r in sentiment_rows if r["stage_id"] == sid),
            "loops_and_skips": _loops(loops.get(sid)),
            "channels": {
                "activities": sum(int(c["activities"]) for c in stage_channels),
                "mix": [
                    {k: c[k] for k in ("channel", "activities", "persons", "share")}
                    for c in sorted(stage_channels, key=lambda c: (-c["activities"], c["channel"]))
                ],
            },
            "top_actions": [
                {k: a[k] for k in ("rank", "event", "activities", "persons", "share")}
                for a in sorted((a for a in actions if a["stage_id"] == sid), key=_rank)
            ],
            "changes": [c for c in changes if c["stage_id"] == sid],
        }
        stage["measured_emotion"] = _measured_emotion(stage["sentiment"])
        stage["kpis"] = _kpis(stage_meta, stage)
        stage["pain_points"] = _pain_points(stage)
        stages.append(stage)
    _mark_hotspots(stages)
    name, description = meta.personas.get(persona_id, (_persona_name(persona_id), None))
    value = _value(value_per_conversion, persona_id)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at.isoformat(),
        "journey": {
            "id": meta.journey_id,
            "name": meta.name,
            "actor": meta.actor,
            "scenario": meta.scenario,
            "expectations": list(meta.expectations),
            "owners": list(meta.owners),
            "designed_path": list(meta.designed_path),
            "window_seconds": meta.window_seconds,
            "model_hash": figures.model_hash,
        },
        "persona": {"id": persona_id, "name": name, "description": description},
        "personas": [
            {"id": p, "name": meta.personas.get(p, (_persona_name(p), None))[0]} for p in personas
        ],
        "period": {
            "month": figures.period,
            "as_of": _clean(figures.as_of),
            "cohort": cohort,
            "source": figures.source,
            "snapshot_date": _clean(figures.snapshot_date),
        },
        "settings": {
            "alpha": alpha,
            "min_n": min_n,
            "confidence": 0.95,
            "value_per_conversion": value,
            "top_paths": top_paths,
        },
        "summary": _summary(funnel_rows),
        "stages": stages,
        "comparison": {
            **comparison.info,
            "changes": [c for c in changes if c["stage_id"] is None],
        },
        "paths": _paths(figures, persona_id, top_paths),
        "dfg": _dfg(figures, persona_id),
        "conformance": _conformance(figures, persona_id),
        "deviations": _deviations(figures, persona_id),
        "opportunities": _opportunities(stages, value),
    }


def _persona_name(persona_id: str) -> str:
    return _PERSONA_NAMES.get(persona_id, persona_id.replace("_", " ").capitalize())


def build_journey_maps(
    con: duckdb.DuckDBPyConnection,
    journey_id: str,
    period: str,
    personas: Sequence[str] | None = None,
    *,
    cohort: str = ALL,
    alpha: float = 0.05,
    min_n: int = 30,
    value_per_conversion: ValuePerConversion = 1.0,
    top_paths: int = 10,
    model: JourneyModel | None = None,
    generated_at: datetime | None = None,
) -> list[JsonDict]:
    """Build the journey map document of every persona view (or of ``personas``) at once.

    Takes the same arguments as :func:`build_journey_map` and reads the tables once, so it is
    the way to build the persona switcher's documents.

    Returns
    -------
    list of dict
        One document per persona, ``"all"`` first.
    """
    validate_period(period)
    if cohort != ALL:
        validate_period(cohort)
    if min_n < 0 or not 0 < alpha < 1:
        msg = f"need 0 < alpha < 1 and min_n >= 0, got alpha={alpha}, min_n={min_n}"
        raise ValueError(msg)
    figures = _load_figures(con, journey_id, period)
    meta = _journey_meta(con, journey_id, model)
    available = _persona_order(meta, figures)
    wanted = list(personas) if personas is not None else available
    unknown = [p for p in wanted if p not in available]
    if unknown:
        msg = f"no figures for persona(s) {unknown} in {journey_id!r}; known: {available}"
        raise ValueError(msg)
    comparison = _comparison(con, journey_id, figures, alpha=alpha, min_n=min_n)
    stamp = generated_at or datetime.now(UTC)
    return [
        _document(
            meta,
            figures,
            comparison,
            persona_id,
            available,
            cohort=cohort,
            alpha=alpha,
            min_n=min_n,
            value_per_conversion=value_per_conversion,
            top_paths=top_paths,
            generated_at=stamp,
        )
        for persona_id in wanted
    ]


def build_journey_map(
    con: duckdb.DuckDBPyConnection,
    journey_id: str,
    persona_id: str = ALL,
    period: str | None = None,
    *,
    cohort: str = ALL,
    alpha: float = 0.05,
    min_n: int = 30,
    value_per_conversion: ValuePerConversion = 1.0,
    top_paths: int = 10,
    model: JourneyModel | None = None,
    generated_at: datetime | None = None,
) -> JsonDict:
    """Build the journey map document of one journey, persona and period.

    Parameters
    ----------
    con
        A connection to the journeymap database (``marts`` and ``mining``; read-only is
        enough unless the channel mix has to be computed, which only reads too).
    journey_id
        The journey model's id.
    persona_id
        A persona id, or ``"all"`` for every persona together.
    period
        The month under review, ``YYYY-MM`` (default: the current UTC month). Its snapshot is
        read when one exists, else the live ``mining`` tables.
    cohort
        The entry month whose stage figures are shown, or ``"all"`` (every entry month).
    alpha, min_n
        A change is significant when the two-proportion test gives ``p < alpha`` and both
        samples have at least ``min_n`` attempts.
    value_per_conversion
        The value of one conversion, to rank opportunities by persons lost x value; a mapping
        gives a value per persona id (its ``"all"`` entry is the default).
    top_paths
        How many stage variants to list.
    model
        The journey model, for what the database does not hold (expectations, owners).
    generated_at
        The document's timestamp (default: now).

    Returns
    -------
    dict
        A JSON-ready document valid against :func:`journey_map_schema`.

    Examples
    --------
    >>> doc = build_journey_map(con, "trial_to_paid", "developer", "2026-10")  # doctest: +SKIP
    >>> [s["funnel"]["lost_here"] for s in doc["stages"]]  # doctest: +SKIP
    """
    month = period or datetime.now(UTC).strftime("%Y-%m")
    return build_journey_maps(
        con,
        journey_id,
        month,
        [persona_id],
        cohort=cohort,
        alpha=alpha,
        min_n=min_n,
        value_per_conversion=value_per_conversion,
        top_paths=top_paths,
        model=model,
        generated_at=generated_at,
    )[0]
