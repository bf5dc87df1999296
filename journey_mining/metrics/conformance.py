"""Conformance of the mined stage paths to the journey model's designed path.

The designed path (``marts.dim_journey_stages.designed_path``) is a strict sequence of distinct
stages: the one trace the journey's designers intend. Each attempt's stage variant (see
:mod:`journey_mining.metrics.stage_paths`) is scored against it, and its departures from it are
classified, so a PM sees how far the real journey is from the intended one, where, and whether
the people who depart are the ones who are lost.

Both work on distinct stage paths counted in SQL (an aggregate: thousands of variants, not
millions of attempts): fitness aligns each distinct variant once, in Python; deviations are
judged per distinct path in Polars
(:func:`~journey_mining.metrics.stage_paths.designed_stages_of_paths`) and weighted by its
attempts. pm4py appears only in
:func:`process_model_svg`, through :mod:`journey_mining.process_model`,
and sees only aggregated variants.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import polars as pl

from journey_mining.eventlog import read_sql
from journey_mining.metrics.stage_paths import (
    ALL_PERSONAS,
    breakdown_variants,
    designed_stages_of_paths,
    path_counts,
    with_all_personas,
)
from journey_mining.metrics.stats import rate
from journey_mining.warehouse import Source, as_warehouse

__all__ = ["DEVIATION_TYPES", "conformance", "deviations", "process_model_svg"]

DEVIATION_TYPES = ("skipped_stage", "repeated_stage", "out_of_order")


def conformance(con: Source) -> pl.DataFrame:
    """How well the attempts of each breakdown fit the designed path.

    An attempt's trace is its stage variant. Its fitness is alignment fitness against the
    designed path as a Petri net (a plain sequence): with ``|t|`` visits in the trace, ``|d|``
    stages in the designed path and ``l`` the length of their longest common subsequence, an
    optimal alignment has ``l`` synchronous moves and costs ``|t| + |d| - 2l`` log and model
    moves, so ``fitness = 1 - cost / (|t| + |d|) = 2l / (|t| + |d|)``. This is pm4py's
    ``fitness_alignments`` per trace (its ``average_trace_fitness`` and ``log_fitness``),
    computed exactly, once per distinct variant. An attempt that stops early is charged model
    moves for the stages it did not reach, so fitness mixes deviation with incompleteness;
    ``on_designed_path`` separates the two.

    Parameters
    ----------
    con
        A connection to a database with ``marts.fct_journeys`` and ``marts.dim_journey_stages``.

    Returns
    -------
    polars.DataFrame
        One row per breakdown, sorted by ``journey_id`` and ``persona_id``:

        - ``journey_id``, ``persona_id`` (``"all"`` for every persona together);
        - ``persons``: attempts;
        - ``fitness``: the mean trace fitness, weighted by attempts;
        - ``log_fitness``: ``1 -`` total cost ``/`` total ``(|t| + |d|)`` over the attempts;
        - ``perfectly_fitting``: attempts whose trace is the designed path (fitness 1), and
          ``perfectly_fitting_share`` of ``persons``;
        - ``on_designed_path``: attempts whose trace is a prefix of the designed path (no
          deviation so far, finished or not), and ``on_designed_path_share``.
    """
    warehouse = as_warehouse(con)
    variants = (
        path_counts(warehouse)
        .group_by("journey_id", "persona_id", "stages")
        .agg(pl.col("persons").sum())
        .rename({"stages": "activities"})
    )
    paths = warehouse.frame(read_sql("stage_paths_designed_stages"))
    designed = {
        journey_id: tuple(group.sort("designed_position")["stage_id"])
        for (journey_id,), group in paths.group_by("journey_id")
    }
    aligned = variants.with_columns(
        pl.struct("journey_id", "activities")
        .map_elements(
            lambda row: _alignment(tuple(row["activities"]), designed[row["journey_id"]]),
            return_dtype=_ALIGNMENT,
        )
        .alias("alignment")
    ).unnest("alignment")
    measures = [
        pl.col("persons").sum().cast(pl.Int64).alias("persons"),
        (
            (pl.col("persons") * (1 - pl.col("cost") / pl.col("moves"))).sum()
            / pl.col("persons").sum()
        ).alias("fitness"),
        (
            1
            - (pl.col("persons") * pl.col("cost")).sum()
            / (pl.col("persons") * pl.col("moves")).sum()
        ).alias("log_fitness"),
        pl.col("persons")
        .filter(pl.col("is_perfect_fit"))
        .sum()
        .cast(pl.Int64)
        .alias("perfectly_fitting"),
        pl.col("persons")
        .filter(pl.col("is_on_designed_path"))
        .sum()
        .cast(pl.Int64)
        .alias("on_designed_path"),
    ]
    by_persona = aligned.group_by("journey_id", "persona_id").agg(measures)
    overall = (
        aligned.group_by("journey_id").agg(measures).with_columns(persona_id=pl.lit(ALL_PERSONAS))
    )
    return (
        pl.concat([by_persona, overall.select(by_persona.columns)])
        .with_columns(
            perfectly_fitting_share=pl.col("perfectly_fitting") / pl.col("persons"),
            on_designed_path_share=pl.col("on_designed_path") / pl.col("persons"),
        )
        .select(
            "journey_id",
            "persona_id",
            "persons",
            "fitness",
            "log_fitness",
            "perfectly_fitting",
            "perfectly_fitting_share",
            "on_designed_path",
            "on_designed_path_share",
        )
        .sort("journey_id", "persona_id")
    )


_ALIGNMENT = pl.Struct(
    {
        "moves": pl.Int64,
        "cost": pl.Int64,
        "is_perfect_fit": pl.Boolean,
        "is_on_designed_path": pl.Boolean,
    }
)


def _alignment(trace: tuple[str, ...], designed: tuple[str, ...]) -> dict[str, object]:
    """The optimal alignment of ``trace`` with the designed path (a sequence of distinct stages).

    Its synchronous moves are the longest common subsequence, which for a path of distinct
    stages is the longest strictly increasing run of the trace's designed positions
    (patience sorting); every other visit is a log move and every other stage a model move.
    """
    position = {stage: index for index, stage in enumerate(designed)}
    tails: list[int] = []
    for stage in trace:
        if stage not in position:
            continue
        at = bisect.bisect_left(tails, position[stage])
        if at == len(tails):
            tails.append(position[stage])
        else:
            tails[at] = position[stage]
    moves = len(trace) + len(designed)
    return {
        "moves": moves,
        "cost": moves - 2 * len(tails),
        "is_perfect_fit": trace == designed,
        "is_on_designed_path": trace == designed[: len(trace)],
    }


def deviations(con: Source) -> pl.DataFrame:
    """Where attempts depart from the designed path, by type and stage, and who is lost after.

    Only stages of the designed path are judged; "earlier" and "later" are designed-path
    order. For an attempt and a designed stage ``s``:

    - ``skipped_stage``: the attempt never visited ``s`` but visited a later designed stage
      (the ``skipped`` of :func:`~journey_mining.metrics.stage_paths.loops_and_skips`);
    - ``repeated_stage``: the attempt visited ``s`` more than once, i.e. came back to it after
      another stage (its ``loops``);
    - ``out_of_order``: the attempt's first visit to ``s`` came before its first visit to an
      earlier designed stage that it does visit later (``s`` was done too early). Stages that
      are simply never visited are skips, not disorder.

    An attempt counts at most once per type and stage, and may show several deviations.

    Parameters
    ----------
    con
        A connection to a database with ``marts.fct_journeys`` and ``marts.dim_journey_stages``.

    Returns
    -------
    polars.DataFrame
        One row per breakdown, ``deviation`` and ``stage_id`` with at least one attempt
        affected, sorted by ``journey_id``, ``persona_id``, ``persons_affected`` descending,
        ``deviation`` and ``designed_position``:

        - ``journey_id``, ``persona_id`` (``"all"`` for every persona together);
        - ``deviation`` (one of :data:`DEVIATION_TYPES`), ``stage_id``, ``designed_position``;
        - ``persons_exposed``: attempts that could show the deviation there: for a skip, those
          that visited a later designed stage; for a repeat or disorder, those that visited
          ``s``;
        - ``persons_affected``: attempts with the deviation, and among them ``converted``,
          ``in_progress`` and ``lost_after`` (status ``dropped``);
        - ``lost_share = lost_after / (persons_affected - in_progress)``: attempts still in
          their window are neither lost nor counted in the denominator (FUNNELS.md,
          censoring); null when every affected attempt is in progress;
        - ``unaffected_lost_share``: the same share among the exposed attempts without the
          deviation, the baseline a PM compares ``lost_share`` with.
    """
    stages = designed_stages_of_paths(con)
    visited = pl.col("n_visits") > 0
    keys = ("journey_id", "persona_id", "status", "persons", "stage_id", "designed_position")
    exposures = pl.concat(
        [
            stages.filter(pl.col("furthest_position") > pl.col("designed_position")).select(
                *keys, deviation=pl.lit("skipped_stage"), is_affected=~visited
            ),
            stages.filter(visited).select(
                *keys, deviation=pl.lit("repeated_stage"), is_affected=pl.col("n_visits") > 1
            ),
            stages.filter(visited).select(
                *keys,
                deviation=pl.lit("out_of_order"),
                is_affected=pl.col("earlier_first_visit") > pl.col("first_visit"),
            ),
        ]
    )
    affected = pl.col("is_affected")

    def persons(condition: pl.Expr) -> pl.Expr:
        return (pl.col("persons") * condition.cast(pl.Int64)).sum()

    counted = (
        with_all_personas(exposures)
        .group_by("journey_id", "persona_id", "deviation", "stage_id", "designed_position")
        .agg(
            persons_exposed=pl.col("persons").sum(),
            persons_affected=persons(affected),
            converted=persons(affected & (pl.col("status") == "converted")),
            in_progress=persons(affected & (pl.col("status") == "in_progress")),
            lost_after=persons(affected & (pl.col("status") == "dropped")),
            unaffected_in_progress=persons(~affected & (pl.col("status") == "in_progress")),
            unaffected_lost_after=persons(~affected & (pl.col("status") == "dropped")),
        )
        .filter(pl.col("persons_affected") > 0)
    )
    return counted.select(
        "journey_id",
        "persona_id",
        "deviation",
        "stage_id",
        "designed_position",
        "persons_exposed",
        "persons_affected",
        "converted",
        "in_progress",
        "lost_after",
        lost_share=rate("lost_after", pl.col("persons_affected") - pl.col("in_progress")),
        unaffected_lost_share=rate(
            "unaffected_lost_after",
            pl.col("persons_exposed")
            - pl.col("persons_affected")
            - pl.col("unaffected_in_progress"),
        ),
    ).sort(
        "journey_id",
        "persona_id",
        "persons_affected",
        "deviation",
        "designed_position",
        descending=[False, False, True, False, False],
    )


def process_model_svg(
    con: Source,
    journey_id: str,
    persona_id: str,
    path: str | Path,
    *,
    noise_threshold: float = 0.0,
) -> Path:
    """Draw the process model that pm4py's inductive miner finds in one breakdown's stage paths.

    The miner sees the breakdown's aggregated stage variants (one trace per variant), never
    the events. Needs the ``mining`` extra (pm4py) and graphviz's ``dot``.

    Parameters
    ----------
    con
        The marts (``marts.fct_stage_visits``, ``marts.fct_journeys``): a warehouse or a
        DuckDB connection.
    journey_id, persona_id
        The breakdown; ``persona_id="all"`` takes every persona.
    path
        The SVG file to write (its folder is created).
    noise_threshold
        The inductive miner's infrequent-behaviour threshold: 0 keeps every variant's
        behaviour; about 0.2 draws the main flow only.

    Returns
    -------
    Path
        The SVG file written.

    Raises
    ------
    ValueError
        The breakdown has no attempts.
    journey_mining.process_model.ProcessModelError
        pm4py or graphviz is missing, or discovery failed.
    """
    from journey_mining.process_model import (  # noqa: PLC0415 (keeps pm4py's seam optional)
        discover_petri_net,
        render_process_model,
    )

    variants = breakdown_variants(con, journey_id, persona_id)
    if not variants:
        msg = f"no stage visits for journey {journey_id!r} and persona {persona_id!r}"
        raise ValueError(msg)
    model = discover_petri_net(variants, noise_threshold=noise_threshold)
    return render_process_model(model, path)
