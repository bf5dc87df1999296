"""Hand-built marts made whole: the columns dbt derives for ``fct_stage_visits`` from the attempt.

Metric tests write small marts by hand; dbt copies each attempt's persona and span onto its
visits (``transforms/models/marts/fct_stage_visits.sql``), and the mining SQL reads them from
there. :func:`add_attempt_columns_to_visits` derives them from the test's ``fct_journeys`` by
the same rule, so each fixture states an attempt's window once.
"""

from __future__ import annotations

import duckdb


def add_attempt_columns_to_visits(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``marts.fct_stage_visits`` with its rows plus ``persona_id`` and the attempt span.

    ``attempt_entered_at`` is the attempt's ``entered_at``; ``attempt_closes_at`` the earlier
    of its ``window_closes_at`` and ``as_of_at``; ``persona_id`` the attempt's. Visits of no
    attempt are dropped, as dbt's inner join drops them.
    """
    columns = {row[0] for row in con.execute("describe marts.fct_stage_visits").fetchall()}
    own = "visits.* exclude (persona_id)" if "persona_id" in columns else "visits.*"
    con.execute(
        f"""
        create or replace table marts.fct_stage_visits as
        select
            {own},
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
