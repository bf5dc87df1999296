"""marts.* -> mining.*: the figures of the journey map, one table per metric.

Every metric is a function of ``journey_mining.metrics`` that reads the marts through a
warehouse (set-based SQL; only aggregates reach Python) and returns a Polars frame; the asset
stores it in DuckDB as ``mining.<name>``, replacing the previous refresh, and reports its row
count. The warehouse is the DuckDB file itself, or, with ``JOURNEYMAP_DBT_TARGET=spark``, the
Spark catalog dbt built the marts in (:func:`pipelines.spark.spark_warehouse`): the same SQL
runs there and only the figures come back. Dated history is kept by the journey-map snapshot,
not here. Metrics that share an expensive intermediate are one step (``COMPUTED_TOGETHER``),
which builds it once and stores each of their tables.
"""

from collections.abc import Callable, Iterator

import dagster as dg
import duckdb
import polars as pl
from dagster import AssetExecutionContext

from journey_mining.journey_map import (
    stage_channel_mix,
    stage_channel_mix_and_top_actions,
    stage_top_actions,
)
from journey_mining.metrics.conformance import conformance, deviations
from journey_mining.metrics.sentiment import stage_sentiment
from journey_mining.metrics.stage_funnel import stage_funnel
from journey_mining.metrics.stage_paths import (
    event_variants,
    loops_and_skips,
    stage_dfg,
    stage_variants,
)
from journey_mining.metrics.timing import stage_funnel_and_timing, stage_timing
from journey_mining.warehouse import Source
from pipelines.resources import DuckDBResource
from pipelines.spark import marts_source

Metric = Callable[[Source], pl.DataFrame]
Metrics = Callable[[Source], tuple[pl.DataFrame, ...]]

_JOURNEYS = dg.AssetKey(["marts", "fct_journeys"])
_VISITS = dg.AssetKey(["marts", "fct_stage_visits"])
_STAGES = dg.AssetKey(["marts", "dim_journey_stages"])
_STAGE_EVENTS = dg.AssetKey(["marts", "fct_stage_events"])
_ACTIVITIES = dg.AssetKey(["marts", "fct_activities"])

METRICS: dict[str, tuple[Metric, tuple[dg.AssetKey, ...], str]] = {
    "stage_funnel": (
        stage_funnel,
        (_JOURNEYS, _VISITS, _STAGES, _STAGE_EVENTS),
        "Per journey x persona x entry month x stage: reached, converted, dropped, in progress "
        "(censored), conversion with a 95% Wilson interval, milestone reach, lost here.",
    ),
    "stage_timing": (
        stage_timing,
        (_JOURNEYS, _VISITS, _STAGES, _STAGE_EVENTS),
        "Time to the next stage (median, p90 among converters; Kaplan-Meier median with the "
        "censored) and time in stage before drop-off.",
    ),
    "stage_sentiment": (
        stage_sentiment,
        (_JOURNEYS, _VISITS, _STAGES, _ACTIVITIES),
        "NPS, CSAT, CES and tickets per 100 attempts that reached the stage, each attributed "
        "to the stage the person was in at that moment, with n and a 95% interval.",
    ),
    "stage_variants": (
        stage_variants,
        (_JOURNEYS,),
        "Stage-level variants (the paths people really take) with counts, shares and outcome.",
    ),
    "event_variants": (
        event_variants,
        (_JOURNEYS, _ACTIVITIES),
        "The most common event-level variants within journey attempts.",
    ),
    "stage_dfg": (
        stage_dfg,
        (_JOURNEYS, _VISITS, _STAGES),
        "The directly-follows graph of stages: transitions, persons, median transition time.",
    ),
    "loops_and_skips": (
        loops_and_skips,
        (_JOURNEYS, _STAGES),
        "Per stage: how many come back to it (rework) and how many pass it by (skips).",
    ),
    "conformance": (
        conformance,
        (_JOURNEYS, _STAGES),
        "Fitness of the actual stage paths to the designed path, weighted by persons.",
    ),
    "deviations": (
        deviations,
        (_JOURNEYS, _STAGES),
        "Skipped, repeated and out-of-order stages: persons affected and lost afterwards.",
    ),
    "stage_channel_mix": (
        stage_channel_mix,
        (_JOURNEYS, _VISITS, _ACTIVITIES),
        "Per stage: the share of activities in each channel (web, app, email, sales, ...).",
    ),
    "stage_top_actions": (
        stage_top_actions,
        (_JOURNEYS, _VISITS, _ACTIVITIES),
        "Per stage: the most frequent actions (event names) people take there.",
    ),
}


COMPUTED_TOGETHER: dict[tuple[str, ...], Metrics] = {
    ("stage_funnel", "stage_timing"): stage_funnel_and_timing,
    ("stage_channel_mix", "stage_top_actions"): stage_channel_mix_and_top_actions,
}
"""Metrics that share an expensive intermediate: funnel and timing the ordered chain, channel
mix and top actions the activities placed in stages. One step computes each group."""


def mining_steps() -> list[tuple[tuple[str, ...], Metrics]]:
    """The mining work as steps, in ``METRICS`` order: each metric alone or with its partners."""
    steps: list[tuple[tuple[str, ...], Metrics]] = []
    grouped = {name: names for names in COMPUTED_TOGETHER for name in names}
    for name, (metric, _deps, _doc) in METRICS.items():
        if name not in grouped:
            steps.append(((name,), _alone(metric)))
        elif grouped[name][0] == name:
            steps.append((grouped[name], COMPUTED_TOGETHER[grouped[name]]))
    return steps


def _alone(metric: Metric) -> Metrics:
    return lambda source: (metric(source),)


def store(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Replace ``mining.<name>`` with ``frame`` in one transaction."""
    con.execute("create schema if not exists mining")
    con.register("_mining_frame", frame.to_arrow())
    try:
        con.begin()
        con.execute(f"create or replace table mining.{name} as select * from _mining_frame")
        con.commit()
    finally:
        con.unregister("_mining_frame")


def _mining_asset(names: tuple[str, ...], compute: Metrics) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=dg.AssetKey(["mining", name]),
            group_name="mining",
            kinds={"duckdb", "python"},
            deps=METRICS[name][1],
            description=METRICS[name][2],
        )
        for name in names
    ]

    @dg.multi_asset(name="mining__" + "__".join(names), specs=specs)
    def _metrics(
        context: AssetExecutionContext, duckdb: DuckDBResource
    ) -> Iterator[dg.MaterializeResult]:
        with duckdb.connect() as con:
            frames = compute(marts_source(con))
            for name, frame in zip(names, frames, strict=True):
                store(con, name, frame)
        for name, frame in zip(names, frames, strict=True):
            context.log.info(f"mining.{name}: {frame.height} rows")
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["mining", name]),
                metadata={"dagster/row_count": frame.height},
            )

    return _metrics


mining_assets = [_mining_asset(names, compute) for names, compute in mining_steps()]
