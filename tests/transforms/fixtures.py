"""Hand-made raw rows for the dbt project, with the ground truth they were written to show.

The raw tables are created with the DDL of docs/data_contracts.md sections 2 and 3, typed as
ingest and the journey_models asset write them. The journey mirrors the demo scenario
(section 4) in miniature: six stages, three personas, a 30-day window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import duckdb

RAW_DDL: dict[str, str] = {
    "product_events": """
        event_id VARCHAR, event_type VARCHAR, event VARCHAR, user_id VARCHAR,
        anonymous_id VARCHAR, previous_id VARCHAR, ts TIMESTAMP, channel VARCHAR,
        properties VARCHAR, traits VARCHAR, source VARCHAR, source_file VARCHAR,
        source_line BIGINT, event_date DATE, loaded_at TIMESTAMP""",
    "crm_contacts": """
        contact_id VARCHAR, external_id VARCHAR, email VARCHAR, first_name VARCHAR,
        last_name VARCHAR, company VARCHAR, role VARCHAR, company_size INTEGER, segment VARCHAR,
        lifecycle_stage VARCHAR, created_at TIMESTAMP, source_file VARCHAR, source_line BIGINT,
        loaded_at TIMESTAMP""",
    "crm_activities": """
        activity_id VARCHAR, contact_id VARCHAR, activity_type VARCHAR, channel VARCHAR,
        ts TIMESTAMP, subject VARCHAR, source_file VARCHAR, source_line BIGINT, event_date DATE,
        loaded_at TIMESTAMP""",
    "crm_deal_stage_changes": """
        deal_id VARCHAR, contact_id VARCHAR, deal_stage VARCHAR, amount DOUBLE, ts TIMESTAMP,
        source_file VARCHAR, source_line BIGINT, event_date DATE, loaded_at TIMESTAMP""",
    "crm_survey_responses": """
        response_id VARCHAR, contact_id VARCHAR, survey_type VARCHAR, score INTEGER,
        comment VARCHAR, channel VARCHAR, ts TIMESTAMP, source_file VARCHAR, source_line BIGINT,
        event_date DATE, loaded_at TIMESTAMP""",
    "rejects": """
        source VARCHAR, source_file VARCHAR, source_line BIGINT, reason VARCHAR,
        raw_text VARCHAR, rejected_at TIMESTAMP""",
    "journey_models": """
        journey_id VARCHAR, name VARCHAR, actor VARCHAR, scenario VARCHAR,
        window_seconds BIGINT, designed_path VARCHAR, source_file VARCHAR, model_hash VARCHAR,
        loaded_at TIMESTAMP""",
    "journey_stages": """
        journey_id VARCHAR, stage_id VARCHAR, stage_order INTEGER, name VARCHAR,
        owner VARCHAR, layers VARCHAR, kpis VARCHAR""",
    "journey_personas": """
        journey_id VARCHAR, persona_id VARCHAR, persona_order INTEGER, name VARCHAR,
        description VARCHAR""",
    "journey_stage_rules": """
        journey_id VARCHAR, stage_id VARCHAR, clause_id INTEGER, activity_source VARCHAR,
        event_pattern VARCHAR, event_like VARCHAR, is_glob BOOLEAN, n_conditions INTEGER""",
    "journey_persona_rules": """
        journey_id VARCHAR, persona_id VARCHAR, persona_order INTEGER, clause_id INTEGER,
        n_conditions INTEGER""",
    "journey_rule_conditions": """
        journey_id VARCHAR, rule_kind VARCHAR, owner_id VARCHAR, clause_id INTEGER,
        condition_id INTEGER, property VARCHAR, op VARCHAR, value_text VARCHAR,
        value_number DOUBLE, is_list BOOLEAN""",
}

LOADED_AT = datetime(2026, 3, 6)
JOURNEY = "trial_to_paid"
WINDOW_SECONDS = 30 * 24 * 3600


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ``raw.*`` table of the data contract, empty."""
    con.execute("create schema if not exists raw")
    for table, columns in RAW_DDL.items():
        con.execute(f"create or replace table raw.{table} ({columns})")


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows given as column -> value mappings, values bound as parameters."""
    if not rows:
        return
    columns = list(rows[0])
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into raw.{table} ({', '.join(columns)}) values ({placeholders})",
        [[row[column] for column in columns] for row in rows],
    )


def at(day: str, clock: str = "10:00:00") -> datetime:
    """A naive UTC timestamp: ``at("01-03")`` is 2026-01-03 10:00:00."""
    return datetime.fromisoformat(f"2026-{day}T{clock}")


_line = iter(range(1, 10_000))


def _event(
    event_id: str,
    ts: datetime,
    event: str,
    *,
    event_type: str = "track",
    user_id: str | None = None,
    anonymous_id: str | None = None,
    previous_id: str | None = None,
    properties: Mapping[str, Any] | None = None,
    traits: Mapping[str, Any] | None = None,
    channel: str = "web",
    source: str = "segment",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event": event,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "previous_id": previous_id,
        "ts": ts,
        "channel": channel,
        "properties": json.dumps(properties or {}),
        "traits": json.dumps(traits) if traits is not None else None,
        "source": source,
        "source_file": f"events/segment/{ts.date()}.jsonl",
        "source_line": next(_line),
        "event_date": ts.date(),
        "loaded_at": LOADED_AT,
    }


def _identify(
    event_id: str, ts: datetime, user_id: str, anonymous_id: str, **traits: Any
) -> dict[str, Any]:
    return _event(
        event_id,
        ts,
        "identify",
        event_type="identify",
        user_id=user_id,
        anonymous_id=anonymous_id,
        traits=traits,
    )


def _alias(event_id: str, ts: datetime, previous_id: str, user_id: str) -> dict[str, Any]:
    return _event(
        event_id, ts, "alias", event_type="alias", user_id=user_id, previous_id=previous_id
    )


def _page(event_id: str, ts: datetime, name: str, **ids: Any) -> dict[str, Any]:
    return _event(event_id, ts, "Page Viewed", event_type="page", properties={"name": name}, **ids)


PRODUCT_EVENTS: list[dict[str, Any]] = [
    # alice: two anonymous visits, identified (back-fill), converts; a late visit after her window
    _page("e-a1-1", at("01-01"), "Home", anonymous_id="anon-a1"),
    _page("e-a1-1", at("01-01"), "Home", anonymous_id="anon-a1"),
    _identify("i-a1", at("01-02"), "u1", "anon-a1", email="alice@acme.example", plan="trial"),
    _event("e-u1-1", at("01-02", "10:05:00"), "Signed Up", user_id="u1", anonymous_id="anon-a1"),
    _event("e-u1-2", at("01-03"), "Onboarding Completed", user_id="u1"),
    _event("e-u1-3", at("01-04"), "Teammate Invited", user_id="u1"),
    _page("e-u1-4", at("01-05"), "Pricing", user_id="u1"),
    _event("e-u1-5", at("01-06"), "Subscription Started", user_id="u1", properties={"plan": "pro"}),
    _page("e-u1-6", at("03-01"), "Pricing", user_id="u1"),
    # anon-a7 is identified as u1 first and as u2 later: the first identify wins
    _event("e-a7-1", at("01-03"), "Dashboard Viewed", anonymous_id="anon-a7"),
    _identify("i-a7-u1", at("01-03", "11:00:00"), "u1", "anon-a7"),
    _identify("i-a7-u2", at("01-04", "11:00:00"), "u2", "anon-a7"),
    # bob: two anonymous ids, loops back to discover, never buys; his window has closed
    _page("e-a2-1", at("01-02"), "Blog", anonymous_id="anon-a2", channel="app"),
    _page("e-a3-1", at("01-02", "12:00:00"), "Features", anonymous_id="anon-a3"),
    _identify("i-a2", at("01-03"), "u2", "anon-a2", email="bob@example.com", platform="ios"),
    _identify("i-a3", at("01-03", "10:01:00"), "u2", "anon-a3"),
    _event("e-u2-1", at("01-03", "10:02:00"), "Signed Up", user_id="u2"),
    _event("e-u2-2", at("01-03", "10:03:00"), "Signed Up", user_id="u2"),
    _event("e-u2-3", at("01-04"), "Project Created", user_id="u2"),
    _page("e-u2-4", at("01-05"), "Home", user_id="u2"),
    _event("e-u2-5", at("01-05", "11:00:00"), "Onboarding Completed", user_id="u2"),
    _event(
        "e-u2-6", at("01-06"), "Subscription Started", user_id="u2", properties={"plan": "free"}
    ),
    _event("e-u2-7", at("01-07"), "Report Shared", user_id="u2", properties={"recipients": 0}),
    # erin: anonymous visit, user u5 signs up, aliases merge anon-a5 and user u6 into u5
    _page("e-a5-1", at("02-20"), "Features", anonymous_id="anon-a5"),
    _event("e-u5-1", at("02-21"), "Signed Up", user_id="u5", source="amplitude", channel="app"),
    _event("e-u6-1", at("02-22"), "Report Shared", user_id="u6", properties={"recipients": 0}),
    _alias("l-a5", at("03-02"), "anon-a5", "u5"),
    _alias("l-u6", at("03-03"), "u6", "u5"),
    _event("e-u6-2", at("03-05"), "Report Shared", user_id="u6", properties={"recipients": 3}),
    # frank: his only activity is anonymous; the identify arrives in a later batch, alone
    _page("e-a8-1", at("02-10"), "Home", anonymous_id="anon-a8"),
    _identify("i-a8", at("03-02"), "u8", "anon-a8", plan="trial"),
    # an anonymous visitor who never matches a stage
    _page("e-a6-1", at("02-01"), "Docs", anonymous_id="anon-a6", source="mixpanel"),
    _event(
        "e-a6-2", at("02-01", "10:01:00"), "btn_clk_v2", anonymous_id="anon-a6", source="mixpanel"
    ),
]


def _contact(
    contact_id: str,
    email: str | None,
    role: str | None,
    company_size: int | None,
    external_id: str | None = None,
) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "external_id": external_id,
        "email": email,
        "first_name": contact_id.upper(),
        "last_name": "Doe",
        "company": "Globex",
        "role": role,
        "company_size": company_size,
        "segment": "smb",
        "lifecycle_stage": "lead",
        "created_at": at("01-01", "08:00:00"),
        "source_file": "crm/hubspot/contacts.csv",
        "source_line": next(_line),
        "loaded_at": LOADED_AT,
    }


CRM_CONTACTS: list[dict[str, Any]] = [
    _contact("c1", "alice@acme.example", "Senior Software Developer", 40, external_id="u1"),
    _contact("c2", "  Bob@Example.COM ", "IT Manager", 500),
    _contact("c3", "carol@initech.example", "Team Lead", 120),
    _contact("c4", "dave@tiny.example", "Team Lead", 10),
    _contact("c5", "eve@nowhere.example", None, None),
]


def _activity(
    activity_id: str, contact_id: str, activity_type: str, channel: str, ts: datetime
) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "contact_id": contact_id,
        "activity_type": activity_type,
        "channel": channel,
        "ts": ts,
        "subject": f"{activity_type} for {contact_id}",
        "source_file": f"crm/hubspot/activities/{ts.date()}.csv",
        "source_line": next(_line),
        "event_date": ts.date(),
        "loaded_at": LOADED_AT,
    }


CRM_ACTIVITIES: list[dict[str, Any]] = [
    _activity("act-1", "c2", "email_sent", "email", at("01-01", "09:00:00")),
    _activity("act-2", "c3", "email_clicked", "email", at("01-03")),
    _activity("act-3", "c3", "demo", "sales", at("01-10")),
    _activity("act-4", "c4", "email_clicked", "email", at("03-01")),
]

CRM_DEAL_STAGE_CHANGES: list[dict[str, Any]] = [
    {
        "deal_id": "d3",
        "contact_id": "c3",
        "deal_stage": stage,
        "amount": 1200.0,
        "ts": ts,
        "source_file": f"crm/hubspot/deal_stage_changes/{ts.date()}.csv",
        "source_line": next(_line),
        "event_date": ts.date(),
        "loaded_at": LOADED_AT,
    }
    for stage, ts in (("qualifiedtobuy", at("01-12")), ("closedwon", at("01-20")))
]

CRM_SURVEY_RESPONSES: list[dict[str, Any]] = [
    {
        "response_id": "r3",
        "contact_id": "c3",
        "survey_type": "nps",
        "score": 9,
        "comment": "smooth",
        "channel": "email",
        "ts": at("01-25"),
        "source_file": "crm/hubspot/survey_responses/2026-01-25.csv",
        "source_line": next(_line),
        "event_date": date(2026, 1, 25),
        "loaded_at": LOADED_AT,
    },
]

STAGES = ("discover", "sign_up", "onboard", "activate", "evaluate", "purchase")


def _stage_rule(
    stage_id: str, clause_id: int, source: str, pattern: str, n_conditions: int = 0
) -> dict[str, Any]:
    return {
        "journey_id": JOURNEY,
        "stage_id": stage_id,
        "clause_id": clause_id,
        "activity_source": source,
        "event_pattern": pattern,
        "event_like": pattern,
        "is_glob": False,
        "n_conditions": n_conditions,
    }


def _conditions(
    rule_kind: str,
    owner_id: str,
    clause_id: int,
    condition_id: int,
    prop: str,
    op: str,
    values: Iterable[Any],
) -> list[dict[str, Any]]:
    values = list(values)
    rows = []
    for value in values:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        rows.append(
            {
                "journey_id": JOURNEY,
                "rule_kind": rule_kind,
                "owner_id": owner_id,
                "clause_id": clause_id,
                "condition_id": condition_id,
                "property": prop,
                "op": op,
                "value_text": str(value),
                "value_number": float(value) if is_number else None,
                "is_list": op in ("in", "not_in"),
            }
        )
    return rows


JOURNEY_MODELS = [
    {
        "journey_id": JOURNEY,
        "name": "Trial to paid",
        "actor": "B2B buyer",
        "scenario": "From first visit to a paid subscription",
        "window_seconds": WINDOW_SECONDS,
        "designed_path": json.dumps(list(STAGES)),
        "source_file": "models/trial_to_paid.yml",
        "model_hash": "fixture",
        "loaded_at": LOADED_AT,
    }
]

JOURNEY_STAGES = [
    {
        "journey_id": JOURNEY,
        "stage_id": stage,
        "stage_order": order,
        "name": stage.title(),
        "owner": "growth",
        "layers": "{}",
        "kpis": "{}",
    }
    for order, stage in enumerate(STAGES, start=1)
]

JOURNEY_STAGE_RULES = [
    _stage_rule("discover", 1, "product", "Page Viewed", 1),
    _stage_rule("discover", 2, "crm", "email_clicked"),
    _stage_rule("sign_up", 1, "product", "Signed Up"),
    _stage_rule("onboard", 1, "product", "Onboarding Completed"),
    _stage_rule("onboard", 2, "product", "Project Created"),
    _stage_rule("activate", 1, "product", "Teammate Invited"),
    _stage_rule("activate", 2, "product", "Report Shared", 1),
    _stage_rule("evaluate", 1, "product", "Page Viewed", 1),
    _stage_rule("evaluate", 2, "crm", "demo"),
    _stage_rule("evaluate", 3, "crm", "meeting"),
    _stage_rule("evaluate", 4, "crm", "call"),
    _stage_rule("purchase", 1, "product", "Subscription Started", 1),
    _stage_rule("purchase", 2, "crm", "deal_stage_changed", 1),
]

JOURNEY_PERSONAS = [
    {
        "journey_id": JOURNEY,
        "persona_id": persona,
        "persona_order": order,
        "name": persona,
        "description": "",
    }
    for order, persona in enumerate(("it_admin", "developer", "team_lead"), start=1)
]

JOURNEY_PERSONA_RULES = [
    {
        "journey_id": JOURNEY,
        "persona_id": persona,
        "persona_order": order,
        "clause_id": clause,
        "n_conditions": n,
    }
    for persona, order, clause, n in (
        ("it_admin", 1, 1, 1),
        ("developer", 2, 1, 1),
        ("developer", 2, 2, 1),
        ("team_lead", 3, 1, 2),
    )
]

JOURNEY_RULE_CONDITIONS = [
    *_conditions("stage", "discover", 1, 1, "name", "in", ["Home", "Features", "Blog"]),
    *_conditions("stage", "activate", 2, 1, "recipients", "gte", [1]),
    *_conditions("stage", "evaluate", 1, 1, "name", "eq", ["Pricing"]),
    *_conditions("stage", "purchase", 1, 1, "plan", "not_in", ["free"]),
    *_conditions("stage", "purchase", 2, 1, "deal_stage", "eq", ["closedwon"]),
    *_conditions(
        "persona",
        "it_admin",
        1,
        1,
        "role",
        "in",
        ["IT Admin", "IT Manager", "Systems Administrator"],
    ),
    *_conditions("persona", "developer", 1, 1, "role", "icontains", ["developer"]),
    *_conditions("persona", "developer", 2, 1, "role", "icontains", ["engineer"]),
    *_conditions(
        "persona", "team_lead", 1, 1, "role", "in", ["Team Lead", "Head of Operations", "Director"]
    ),
    *_conditions("persona", "team_lead", 1, 2, "company_size", "gte", [50]),
]

RAW_ROWS: dict[str, list[dict[str, Any]]] = {
    "product_events": PRODUCT_EVENTS,
    "crm_contacts": CRM_CONTACTS,
    "crm_activities": CRM_ACTIVITIES,
    "crm_deal_stage_changes": CRM_DEAL_STAGE_CHANGES,
    "crm_survey_responses": CRM_SURVEY_RESPONSES,
    "journey_models": JOURNEY_MODELS,
    "journey_stages": JOURNEY_STAGES,
    "journey_personas": JOURNEY_PERSONAS,
    "journey_stage_rules": JOURNEY_STAGE_RULES,
    "journey_persona_rules": JOURNEY_PERSONA_RULES,
    "journey_rule_conditions": JOURNEY_RULE_CONDITIONS,
}

# The truth the rows above were written to show.
PERSONS = {
    "u:u1": {"user_ids": {"u1"}, "anonymous_ids": {"anon-a1", "anon-a7"}, "contacts": {"c1"}},
    "u:u2": {"user_ids": {"u2"}, "anonymous_ids": {"anon-a2", "anon-a3"}, "contacts": {"c2"}},
    "u:u5": {"user_ids": {"u5", "u6"}, "anonymous_ids": {"anon-a5"}, "contacts": set()},
    "u:u8": {"user_ids": {"u8"}, "anonymous_ids": {"anon-a8"}, "contacts": set()},
    "c:c3": {"user_ids": set(), "anonymous_ids": set(), "contacts": {"c3"}},
    "c:c4": {"user_ids": set(), "anonymous_ids": set(), "contacts": {"c4"}},
    "c:c5": {"user_ids": set(), "anonymous_ids": set(), "contacts": {"c5"}},
    "a:anon-a6": {"user_ids": set(), "anonymous_ids": {"anon-a6"}, "contacts": set()},
}
PERSONAS = {
    "u:u1": "developer",
    "u:u2": "it_admin",
    "u:u5": "unassigned",
    "u:u8": "unassigned",
    "c:c3": "team_lead",
    "c:c4": "unassigned",
    "c:c5": "unassigned",
    "a:anon-a6": "unassigned",
}
# as_of defaults to the newest activity, 2026-03-05 10:00
JOURNEYS = {
    "u:u1": (
        "discover > sign_up > onboard > activate > evaluate > purchase",
        "purchase",
        "converted",
    ),
    "u:u2": ("discover > sign_up > onboard > discover > onboard", "onboard", "dropped"),
    "c:c3": ("discover > evaluate > purchase", "purchase", "converted"),
    "c:c4": ("discover", "discover", "in_progress"),
    "u:u5": ("discover > sign_up > activate", "activate", "in_progress"),
    "u:u8": ("discover", "discover", "in_progress"),
}
INCREMENTAL_SPLIT = datetime(2026, 3, 1)
"""Rows before this load first; the rest arrive in a second batch (window 2026-03-01..03-05)."""


def load_raw(
    con: duckdb.DuckDBPyConnection, *, before: datetime | None = None, since: datetime | None = None
) -> None:
    """Insert the fixture rows; ``before``/``since`` keep only timed rows on one side of a split."""
    for table, rows in RAW_ROWS.items():
        kept = [
            row
            for row in rows
            if "ts" not in row
            or ((before is None or row["ts"] < before) and (since is None or row["ts"] >= since))
        ]
        if since is not None and not any("ts" in row for row in rows):
            kept = []
        insert_rows(con, table, kept)
