"""Hand-built marts made whole: the columns dbt derives from each attempt for other tables.

Metric tests write small marts by hand. dbt numbers the attempts (``attempt_key``, in
``int_journey_attempts_opened``) and copies each attempt's key, persona and span onto its
visits (``transforms/models/marts/fct_stage_visits.sql``); the mining SQL reads them there.
:func:`add_attempt_columns_to_visits` derives them from the test's ``fct_journeys`` by the same
rules, so each fixture states an attempt once.
"""

from __future__ import annotations

import duckdb


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(f"describe marts.{table}").fetchall()}


def add_attempt_columns_to_visits(con: duckdb.DuckDBPyConnection) -> None:
    """Number ``marts.fct_journeys`` and give ``marts.fct_stage_visits`` its attempt's columns.

    ``attempt_key`` numbers the attempts 1..n in (person_key, journey_id, attempt_number)
    order. Each visit gets its stage's ``stage_order`` (if the fixture's stages have one),
    its attempt's ``attempt_key`` and ``persona_id``,
    ``attempt_entered_at`` (the attempt's ``entered_at``) and ``attempt_closes_at`` (the
    earlier of its ``window_closes_at`` and ``as_of_at``). Visits of no attempt are dropped, as
    dbt's inner join drops them.
    """
    if "attempt_key" not in _columns(con, "fct_journeys"):
        con.execute(
            """
            create or replace table marts.fct_journeys as
            select
                *,
                row_number() over (order by person_key, journey_id, attempt_number)
                    as attempt_key
            from marts.fct_journeys
            """
        )
    visit_columns = _columns(con, "fct_stage_visits")
    own = "visits.* exclude (persona_id)" if "persona_id" in visit_columns else "visits.*"
    if "stage_order" not in visit_columns and "stage_order" in _columns(con, "dim_journey_stages"):
        con.execute(
            """
            create or replace table marts.fct_stage_visits as
            select visits.*, stages.stage_order
            from marts.fct_stage_visits as visits
            left join marts.dim_journey_stages as stages
                on visits.journey_id = stages.journey_id
                and visits.stage_id = stages.stage_id
            """
        )
    con.execute(
        f"""
        create or replace table marts.fct_stage_visits as
        select
            {own},
            journeys.attempt_key,
            journeys.persona_id,
            journeys.entered_at as attempt_entered_at,
            least(journeys.window_closes_at, journeys.as_of_at) as attempt_closes_at
        from marts.fct_stage_visits as visits
        inner join marts.fct_journeys as journeys
            on visits.person_key = journeys.person_key
            and visits.journey_id = journeys.journey_id
            and visits.attempt_number = journeys.attempt_number
        """
    )
