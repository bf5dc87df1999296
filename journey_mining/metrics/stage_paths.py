"""Paths through a journey's stages: variants, the directly-follows graph, loops and skips.

The stage-level event log is ``marts.fct_stage_visits`` (one row per visit; a stage never
directly follows itself, so a loop is a later visit to an earlier stage). The unit is the
journey attempt, called "persons" in the columns because an attempt is one person's journey.
Every figure is per breakdown: ``journey_id`` x ``persona_id``, plus every persona together as
``persona_id = "all"``.

All work is set-based SQL (``journey_mining/sql/stage_paths_*.sql``); Python only sees
aggregated rows. An attempt's stage sequence is read from ``marts.fct_journeys.stage_path``,
the compact form dbt builds once, so variants, loops and skips never regroup the visits: loops
and skips are computed per distinct path (:func:`designed_stages_of_paths`, in Polars) and
weighted by its attempts. Only the DFG, which needs the visits' times, reads the visits.
Variants and edges are defined as in :mod:`journey_mining.metrics.paths` (and
pm4py's ``get_variants`` and ``discover_dfg``), with the stage visits ordered by
``visit_number``, never by a timestamp that may tie.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from journey_mining.eventlog import read_sql
from journey_mining.metrics.paths import VARIANT_SEPARATOR, Variant
from journey_mining.metrics.stats import rate
from journey_mining.warehouse import Source, Warehouse, as_warehouse

__all__ = [
    "ALL_PERSONAS",
    "END_NODE",
    "START_NODE",
    "breakdown_variants",
    "designed_stages_of_paths",
    "event_variants",
    "loops_and_skips",
    "path_counts",
    "stage_dfg",
    "stage_variants",
    "with_all_personas",
]

ALL_PERSONAS: Final = "all"
START_NODE: Final = "__start__"
END_NODE: Final = "__end__"


def stage_variants(con: Source) -> pl.DataFrame:
    """Every stage variant (the ordered stage visits of an attempt) per breakdown.

    Parameters
    ----------
    con
        A connection (read-only is enough) to a database with ``marts.fct_journeys``.

    Returns
    -------
    polars.DataFrame
        One row per breakdown and variant, sorted by ``journey_id``, ``persona_id``, ``rank``:

        - ``journey_id``, ``persona_id`` (``"all"`` for every persona together);
        - ``rank``: 1 for the most common; ties go to the variant text, in byte order;
        - ``variant``: the stage ids joined by ``" > "``;
        - ``n_stages``: the number of visits in the variant (a loop counts its stages again);
        - ``persons``: attempts that followed it; ``share`` of the breakdown's attempts;
        - ``cumulative_share``: the share of ranks 1 to ``rank``;
        - ``in_top_80``: the variant belongs to the smallest set of top-ranked variants that
          covers at least 80% of the attempts (so exactly the ranks whose previous
          cumulative share is below 0.8);
        - ``converted``, ``dropped``, ``in_progress``: the attempts by ``fct_journeys.status``;
        - ``distinct_variants``: how many variants the breakdown has.

    Examples
    --------
    >>> top = stage_variants(con).filter(persona_id="all", in_top_80=True)  # doctest: +SKIP
    """
    frame = _variants(con, "stage_paths_stage_traces", top=None)
    return frame.drop("activities").rename({"length": "n_stages"})


def event_variants(con: Source, top: int = 50) -> pl.DataFrame:
    """The most common event-level variants per breakdown, and how many variants there are.

    An attempt's event-level variant is the ``event`` names of all the person's activities in
    ``marts.fct_activities`` from the attempt's ``entered_at`` to the end of its window (or its
    ``as_of_at``, if earlier), both ends included, ordered by ``(ts, activity_seq)``. Unlike
    stage variants, consecutive equal events are kept, so these variants are many and long;
    only the ``top`` of each breakdown are returned.

    Parameters
    ----------
    con
        A connection to a database with ``marts.fct_journeys`` and ``marts.fct_activities``.
    top
        How many variants to keep per breakdown (by rank).

    Returns
    -------
    polars.DataFrame
        The columns of :func:`stage_variants`, with ``n_events`` in place of ``n_stages``.
        ``share``, ``cumulative_share`` and ``in_top_80`` are computed over all the variants
        before the cut, and ``distinct_variants`` on every row reports how many variants the
        breakdown has in all (so ``1 - cumulative_share`` of the last row is the share of
        attempts whose variant is not listed).
    """
    if top < 1:
        msg = f"top must be at least 1, got {top}"
        raise ValueError(msg)
    frame = _variants(con, "stage_paths_event_traces", top=top)
    return frame.drop("activities").rename({"length": "n_events"})


def breakdown_variants(
    con: Source, journey_id: str, persona_id: str = ALL_PERSONAS
) -> tuple[Variant, ...]:
    """The stage variants of one breakdown as :class:`~journey_mining.metrics.paths.Variant`.

    This is the aggregated log that pm4py may see (process discovery, conformance checks).

    Returns
    -------
    tuple of Variant
        In rank order; empty when the breakdown has no attempts.
    """
    frame = _variants(con, "stage_paths_stage_traces", top=None).filter(
        pl.col("journey_id") == journey_id, pl.col("persona_id") == persona_id
    )
    return tuple(
        Variant(tuple(activities), int(persons), float(share))
        for activities, persons, share in frame.select("activities", "persons", "share").rows()
    )


def stage_dfg(con: Source) -> pl.DataFrame:
    """The directly-follows graph of the stage visits, per breakdown.

    An edge ``source -> target`` occurs once each time a visit to ``source`` is immediately
    followed, in the same attempt, by a visit to ``target``. Two pseudo-nodes close the graph:
    ``__start__ -> s`` counts the attempts whose first visit is to ``s`` and ``s -> __end__``
    the attempts whose last visit is to ``s`` (pm4py's start and end activities).

    Parameters
    ----------
    con
        A connection to a database with ``marts.fct_stage_visits``.

    Returns
    -------
    polars.DataFrame
        One row per breakdown and edge, sorted by ``journey_id``, ``persona_id``, then
        ``transitions`` descending, ``source`` and ``target``:

        - ``journey_id``, ``persona_id`` (``"all"`` for every persona together);
        - ``source``, ``target``: stage ids, or ``"__start__"`` / ``"__end__"``;
        - ``transitions``: occurrences of the edge (an attempt that loops may repeat one);
        - ``persons``: distinct attempts with the edge;
        - ``median_seconds``: the median time from ``source``'s ``visited_at`` to
          ``target``'s (the mean of the middle two for an even count); null on the
          pseudo-edges, which have no time.
    """
    params = {"all_personas": ALL_PERSONAS, "start_node": START_NODE, "end_node": END_NODE}
    warehouse = as_warehouse(con)
    edges = warehouse.frame(read_sql("stage_paths_dfg"), params)
    keys = ["journey_id", "persona_id", "source", "target"]
    return (
        edges.join(_edge_persons(warehouse), on=keys, how="left")
        .select(*keys, "transitions", "persons", "median_seconds")
        .sort(*keys[:2], "transitions", *keys[2:], descending=[False, False, True, False, False])
    )


def _edge_persons(warehouse: Warehouse) -> pl.DataFrame:
    """Attempts with each edge, per breakdown: from the distinct stage paths, not the visits.

    Counting distinct attempts per edge over millions of visits costs most of the DFG; a path
    holds an edge or not, so each distinct path's edges count its attempts once.
    """
    steps = pl.concat_list(pl.lit([START_NODE]), pl.col("stages"), pl.lit([END_NODE]))
    edges = (
        path_counts(warehouse)
        .with_row_index("path")
        .select("path", "journey_id", "persona_id", "persons", steps=steps)
        .select(
            "path",
            "journey_id",
            "persona_id",
            "persons",
            source=pl.col("steps").list.slice(0, pl.col("steps").list.len() - 1),
            target=pl.col("steps").list.slice(1),
        )
        .explode("source", "target")
        .unique(["path", "source", "target"])
    )
    return (
        with_all_personas(edges)
        .group_by("journey_id", "persona_id", "source", "target")
        .agg(persons=pl.col("persons").sum())
    )


def loops_and_skips(con: Source) -> pl.DataFrame:
    """Loops back to and skips of each stage of the designed path, per breakdown.

    Stages are the designed path's (``marts.dim_journey_stages.designed_path``), in its order;
    "later" means later in that path, whatever the order of the visits.

    Parameters
    ----------
    con
        A connection to a database with ``marts.fct_journeys`` and
        ``marts.dim_journey_stages``.

    Returns
    -------
    polars.DataFrame
        One row per breakdown and designed stage (zeros included), sorted by ``journey_id``,
        ``persona_id`` and ``designed_position``:

        - ``journey_id``, ``persona_id`` (``"all"`` for every persona together), ``stage_id``;
        - ``designed_position``: 1 for the designed path's first stage;
        - ``reached``: attempts that visited the stage;
        - ``loops``: attempts that visited it more than once; ``loop_rate = loops / reached``;
        - ``skipped``: attempts that never visited it but visited a later designed stage;
        - ``reached_later``: attempts that visited any later designed stage (whether or not
          they visited this one); ``skip_rate = skipped / reached_later``.

        A rate is null when its denominator is 0.
    """
    stages = designed_stages_of_paths(con)
    flags = stages.select(
        "journey_id",
        "persona_id",
        "stage_id",
        "designed_position",
        "persons",
        reached=pl.col("n_visits") > 0,
        loops=pl.col("n_visits") > 1,
        reached_later=pl.col("furthest_position") > pl.col("designed_position"),
    ).with_columns(skipped=pl.col("reached_later") & ~pl.col("reached"))
    counts = ("reached", "loops", "skipped", "reached_later")
    return (
        with_all_personas(flags)
        .group_by("journey_id", "persona_id", "stage_id", "designed_position")
        .agg(
            (pl.col("persons") * pl.col(c).fill_null(False).cast(pl.Int64)).sum().alias(c)
            for c in counts
        )
        .select(
            "journey_id",
            "persona_id",
            "stage_id",
            "designed_position",
            "reached",
            "loops",
            loop_rate=rate("loops", "reached"),
            skipped="skipped",
            reached_later="reached_later",
            skip_rate=rate("skipped", "reached_later"),
        )
        .sort("journey_id", "persona_id", "designed_position")
    )


def designed_stages_of_paths(con: Source) -> pl.DataFrame:
    """Every distinct stage path (per journey, persona and status) against each designed stage.

    The stage-level deviations (loops, skips, disorder) are functions of an attempt's stage
    sequence alone, so they are computed once per distinct sequence (``fct_journeys.
    stage_path``, counted in SQL: thousands of rows, not millions of visits) and weighted by
    its attempts.

    Returns
    -------
    polars.DataFrame
        One row per path x stage of its journey's designed path: ``journey_id``,
        ``persona_id``, ``status``, ``persons`` (attempts with that path), ``stage_id``,
        ``designed_position``, ``n_visits`` (0 if never visited), ``first_visit`` (the visit
        number of its first visit, or null), ``furthest_position`` (the furthest designed
        stage the path visits, null if none) and ``earlier_first_visit`` (the latest first
        visit among the visited designed stages before this one, 0 if none).
    """
    warehouse = as_warehouse(con)
    paths = path_counts(warehouse).with_row_index("path")
    designed = warehouse.frame(read_sql("stage_paths_designed_stages"))
    visited = (
        paths.select("path", "journey_id", stage_id="stages")
        .explode("stage_id")
        .with_columns(visit_number=pl.int_range(1, pl.len() + 1).over("path"))
        .join(designed, on=["journey_id", "stage_id"], how="inner")
        .group_by("path", "stage_id")
        .agg(n_visits=pl.len(), first_visit=pl.col("visit_number").min())
    )
    return (
        paths.drop("stage_path", "stages")
        .join(designed, on="journey_id", how="inner")
        .join(visited, on=["path", "stage_id"], how="left")
        .with_columns(pl.col("n_visits").fill_null(0).cast(pl.Int64))
        .sort("path", "designed_position")
        .with_columns(
            furthest_position=pl.col("designed_position")
            .filter(pl.col("n_visits") > 0)
            .max()
            .over("path"),
            earlier_first_visit=pl.col("first_visit")
            .fill_null(0)
            .cum_max()
            .shift(1, fill_value=0)
            .over("path"),
        )
        .drop("path")
    )


def with_all_personas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` and a copy of it under ``persona_id = "all"``: every breakdown at once."""
    return pl.concat([frame, frame.with_columns(persona_id=pl.lit(ALL_PERSONAS))])


def path_counts(con: Source) -> pl.DataFrame:
    """Attempts per journey, persona, status and stage path: the compact stage-level form.

    ``stage_path`` is ``fct_journeys``' text (stage ids joined by ``" > "`` in visit order;
    ids are snake_case, so the separator never occurs inside one) and ``stages`` the same as a
    list. Counted in SQL, so Python sees thousands of distinct paths, not millions of attempts.
    """
    frame = as_warehouse(con).frame(read_sql("stage_paths_counts"))
    return frame.with_columns(stages=pl.col("stage_path").str.split(VARIANT_SEPARATOR))


_NAMES_OF_ACTIVITIES: Final = {
    "stage_paths_stage_traces": "variants.activities",
    "stage_paths_event_traces": (
        "list_transform(variants.activities, lambda code: list_extract(activity_names.names, code))"
    ),
}
"""Per traces file: how ``stage_paths_variants`` reads a variant's activities as names."""


def _variants(con: Source, traces: str, *, top: int | None) -> pl.DataFrame:
    sql = read_sql("stage_paths_variants").format(
        traces=read_sql(traces), names=_NAMES_OF_ACTIVITIES[traces]
    )
    return as_warehouse(con).frame(sql, {"all_personas": ALL_PERSONAS, "top": top})
