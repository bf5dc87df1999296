"""The map's sentiment line: NPS, CSAT, CES and support tickets, attributed to stages.

A survey answer or a ticket says something about the stage the person was in when it happened,
so each is attributed to the latest stage visit of the person's journey attempt at or before
its timestamp (:mod:`journey_mining.metrics.attribution`, the rule the map's actions and
channels use too). Only activities inside an attempt count (from ``entered_at`` to the
window's close or the as-of time, whichever is first, both included); the rest belong to no
stage. Each
figure carries its n and a 95% interval, per journey, persona (plus ``'all'``) and entry month
(plus ``'all'``).
"""

from __future__ import annotations

import polars as pl

from journey_mining.metrics.attribution import stage_attribution_sql
from journey_mining.metrics.stage_funnel import (
    ALL,
    BREAKDOWN_KEYS,
    attempt_ctes,
    breakdown_columns,
    by_breakdown,
)
from journey_mining.metrics.stats import (
    mean_interval,
    nps_interval,
    poisson_rate_interval,
)
from journey_mining.warehouse import Source, as_warehouse

__all__ = ["METRICS", "stage_sentiment"]

METRICS = ("nps", "csat", "ces", "tickets_per_100")

_SENTIMENT_SQL = (
    """,

signals as (
    select
        event_id,
        person_key,
        ts,
        event = $ticket_event as is_ticket,
        json_extract_string(properties, '$.survey_type') as survey_type,
        try_cast(json_extract_string(properties, '$.score') as double) as score
    from marts.fct_activities
    where event = $ticket_event or event = $survey_event
),

attributed as (
"""
    + stage_attribution_sql("signals")
    + """
),

grouped as (
    select
        attempts.journey_id,
        """
    + breakdown_columns("attempts")
    + """,
        attributed.stage_id,
        count(*) filter (where attributed.is_ticket) as tickets,
        count(*) filter (
            where attributed.survey_type = 'nps' and attributed.score between 0 and 10
        ) as nps_n,
        count(*) filter (
            where attributed.survey_type = 'nps' and attributed.score between 9 and 10
        ) as promoters,
        count(*) filter (
            where attributed.survey_type = 'nps' and attributed.score between 0 and 6
        ) as detractors,
        count(attributed.score) filter (where attributed.survey_type = 'csat') as csat_n,
        avg(attributed.score) filter (where attributed.survey_type = 'csat') as csat_mean,
        stddev_samp(attributed.score) filter (where attributed.survey_type = 'csat') as csat_sd,
        count(attributed.score) filter (where attributed.survey_type = 'ces') as ces_n,
        avg(attributed.score) filter (where attributed.survey_type = 'ces') as ces_mean,
        stddev_samp(attributed.score) filter (where attributed.survey_type = 'ces') as ces_sd
    from attributed
    inner join attempts
        on attributed.attempt_key = attempts.attempt_key
    """
    + by_breakdown("attempts", "attributed.stage_id")
    + """
),

breakdown_stages as (
    select
        breakdowns.journey_id,
        breakdowns.persona_id,
        breakdowns.cohort,
        stages.stage_id,
        stages.stage_order
    from breakdowns
    inner join marts.dim_journey_stages as stages
        on breakdowns.journey_id = stages.journey_id
)

select
    breakdown_stages.*,
    coalesce(stage_reach.reached, 0) as reached,
    coalesce(grouped.tickets, 0) as tickets,
    coalesce(grouped.nps_n, 0) as nps_n,
    coalesce(grouped.promoters, 0) as promoters,
    coalesce(grouped.detractors, 0) as detractors,
    coalesce(grouped.csat_n, 0) as csat_n,
    grouped.csat_mean,
    grouped.csat_sd,
    coalesce(grouped.ces_n, 0) as ces_n,
    grouped.ces_mean,
    grouped.ces_sd
from breakdown_stages
left join stage_reach
    on breakdown_stages.journey_id = stage_reach.journey_id
    and breakdown_stages.persona_id = stage_reach.persona_id
    and breakdown_stages.cohort = stage_reach.cohort
    and breakdown_stages.stage_id = stage_reach.stage_id
left join grouped
    on breakdown_stages.journey_id = grouped.journey_id
    and breakdown_stages.persona_id = grouped.persona_id
    and breakdown_stages.cohort = grouped.cohort
    and breakdown_stages.stage_id = grouped.stage_id
"""
)

_KEYS = (*BREAKDOWN_KEYS, "stage_id", "stage_order")


def _metric(name: str, n: pl.Expr, value: pl.Expr, low: pl.Expr, high: pl.Expr) -> list[pl.Expr]:
    return [
        *(pl.col(k) for k in _KEYS),
        pl.lit(name).alias("metric"),
        n.cast(pl.Int64).alias("n"),
        pl.when(n > 0).then(value).cast(pl.Float64).alias("value"),
        low.cast(pl.Float64).alias("low"),
        high.cast(pl.Float64).alias("high"),
    ]


def stage_sentiment(
    con: Source,
    *,
    survey_event: str = "survey_responded",
    ticket_event: str = "ticket_opened",
) -> pl.DataFrame:
    """NPS, CSAT, CES and tickets per 100 attempts, per stage, persona and entry month.

    Survey answers are ``survey_event`` activities of ``marts.fct_activities`` whose
    ``properties`` hold ``survey_type`` (``nps``, ``csat`` or ``ces``) and a numeric
    ``score``; tickets are ``ticket_event`` activities. Each is attributed to the latest stage
    visit (by ``visit_number``) with ``visited_at <= ts`` in the person's attempt containing
    ``ts``; in several journeys' attempts at once, it counts once in each journey.

    Parameters
    ----------
    con
        A connection to the database holding the ``marts`` schema.
    survey_event, ticket_event
        The event names of survey answers and of opened support tickets.

    Returns
    -------
    pl.DataFrame
        One row per journey x persona x cohort x stage (every stage of the journey model) x
        ``metric``, sorted by those: ``stage_id``, ``stage_order``, ``metric``, ``n``,
        ``value``, ``low``, ``high`` (value and bounds null when ``n`` is 0, bounds also when
        the method needs more data):

        - ``nps``: n answers scored 0-10; value = % promoters (9-10) - % detractors (0-6),
          -100..100; interval: adjusted Wald (Rocks 2016: n + 3, 3/4 added to promoters and
          to detractors);
        - ``csat``, ``ces``: n answers; value = mean score; interval: Student t,
          ``mean ± t(n-1) · sd / sqrt(n)`` (null for n < 2);
        - ``tickets_per_100``: n = attempts that reached the stage (visited it at all within
          the window); value = tickets opened while in the stage per 100 of them; interval:
          Poisson score interval of the ticket count, per 100 attempts.
    """
    warehouse = as_warehouse(con)
    frame = warehouse.frame(
        attempt_ctes(warehouse) + _SENTIMENT_SQL,
        {"all": ALL, "survey_event": survey_event, "ticket_event": ticket_event},
    )
    nps_low, nps_high = nps_interval("promoters", "detractors", "nps_n")
    csat_low, csat_high = mean_interval("csat_mean", "csat_sd", "csat_n")
    ces_low, ces_high = mean_interval("ces_mean", "ces_sd", "ces_n")
    tickets_low, tickets_high = poisson_rate_interval("tickets", "reached", per=100.0)
    parts = [
        frame.select(
            _metric(
                "nps",
                pl.col("nps_n"),
                100 * (pl.col("promoters") - pl.col("detractors")) / pl.col("nps_n"),
                nps_low,
                nps_high,
            )
        ),
        frame.select(_metric("csat", pl.col("csat_n"), pl.col("csat_mean"), csat_low, csat_high)),
        frame.select(_metric("ces", pl.col("ces_n"), pl.col("ces_mean"), ces_low, ces_high)),
        frame.select(
            _metric(
                "tickets_per_100",
                pl.col("reached"),
                100 * pl.col("tickets") / pl.col("reached"),
                tickets_low,
                tickets_high,
            )
        ),
    ]
    order = pl.Enum(METRICS)
    return (
        pl.concat(parts)
        .with_columns(pl.col("metric").cast(order))
        .sort(*BREAKDOWN_KEYS, "stage_order", "stage_id", "metric")
        .with_columns(pl.col("metric").cast(pl.String))
    )
