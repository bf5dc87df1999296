"""Build the dbt project on hand-made raw rows and check it against the truth they were written to show."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.reference.rule_eval import eval_compiled, like_matches
from tests.transforms import fixtures

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRANSFORMS_DIR = PROJECT_ROOT / "transforms"
DBT = Path(sys.executable).with_name("dbt")
BUILT_TABLES = (
    "marts.fct_activities",
    "intermediate.int_activities_matched_to_stages",
    "marts.dim_persons",
    "marts.fct_stage_events",
    "marts.fct_journeys",
    "marts.fct_mapping_coverage",
)
"""The marts, and the incremental models before them, that an incremental run must leave
as a full build would."""


@dataclass(frozen=True)
class DbtRun:
    """One dbt invocation: its exit code, and the run results it wrote."""

    returncode: int
    output: str
    results: list[dict[str, Any]]


def run_dbt(database: Path, work_dir: Path, *args: str) -> DbtRun:
    """Run the dbt CLI against ``database`` with target/ and logs/ under ``work_dir``."""
    env = {
        **os.environ,
        "JOURNEYMAP_DUCKDB": str(database),
        "JOURNEYMAP_DUCKDB_TEMP": str(work_dir / "duckdb_tmp"),
        "JOURNEYMAP_DUCKDB_MEMORY_LIMIT": "1GB",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    target = work_dir / "target"
    command = [
        str(DBT),
        *args,
        "--project-dir",
        str(TRANSFORMS_DIR),
        "--profiles-dir",
        str(TRANSFORMS_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(work_dir / "logs"),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    results_file = target / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    return DbtRun(completed.returncode, completed.stdout + completed.stderr, results)


def run_dbt_ok(database: Path, work_dir: Path, *args: str) -> DbtRun:
    """:func:`run_dbt`, asserting that dbt succeeded (its output is the failure message)."""
    run = run_dbt(database, work_dir, *args)
    assert run.returncode == 0, run.output
    return run


def new_database(path: Path, **split: Any) -> Path:
    """A DuckDB file holding the contract's raw tables with (some of) the fixture rows."""
    with duckdb.connect(str(path)) as con:
        fixtures.create_raw_tables(con)
        fixtures.load_raw(con, **split)
    return path


def assert_marts_equal(database: Path, full_build: Path) -> None:
    """Every table of :data:`BUILT_TABLES` in ``database`` holds the same rows as in
    ``full_build``, duplicates counted; ``built_at`` (when a build wrote the row) aside."""
    with duckdb.connect(str(database)) as con:
        con.execute("attach ? as full_build (read_only)", [str(full_build)])
        for table in BUILT_TABLES:
            columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
            rows = "* exclude (built_at)" if "built_at" in columns else "*"
            [(differences,)] = con.execute(
                f"""
                select count(*) from (
                    (select {rows} from {table} except all select {rows} from full_build.{table})
                    union all
                    (select {rows} from full_build.{table} except all select {rows} from {table})
                )
                """
            ).fetchall()
            assert differences == 0, table


def load_held_back_rows(database: Path) -> None:
    """Move raw.held_back into raw.product_events as ingest would load them: a newer load
    (loaded_at a day later), whatever the rows' event times."""
    with duckdb.connect(str(database)) as con:
        con.execute(
            "insert into raw.product_events select * replace "
            "(loaded_at + interval 1 day as loaded_at) from raw.held_back"
        )
        con.execute("drop table raw.held_back")


def changed_copy_rebuilt_both_ways(
    database: Path, tmp_path: Path, name: str, statements: list[str], *dbt_args: str
) -> Path:
    """A copy of ``database`` changed by ``statements``, then built incrementally (``dbt_args``,
    default ``run``); asserts it equals the same copy rebuilt with ``--full-refresh``."""
    changed = tmp_path / f"{name}.duckdb"
    shutil.copy(database, changed)
    with duckdb.connect(str(changed)) as con:
        for statement in statements:
            con.execute(statement)
    rebuilt = tmp_path / f"{name}_rebuilt.duckdb"
    shutil.copy(changed, rebuilt)
    run_dbt_ok(changed, tmp_path, *(dbt_args or ("run",)))
    run_dbt_ok(rebuilt, tmp_path, "run", "--full-refresh")
    assert_marts_equal(changed, rebuilt)
    return changed


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def records(database: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DbtRun]:
    """The fixture rows built once with ``dbt build`` (models, data tests and unit tests)."""
    work_dir = tmp_path_factory.mktemp("dbt_build")
    database = new_database(work_dir / "journeymap.duckdb")
    return database, run_dbt(database, work_dir, "build")


@pytest.fixture(scope="session")
def database(built: tuple[Path, DbtRun]) -> Path:
    path, run = built
    assert run.returncode == 0, run.output
    return path


def test_build_passes_every_model_data_test_and_unit_test(built: tuple[Path, DbtRun]) -> None:
    _, run = built
    assert run.returncode == 0, run.output
    failed = [
        result["unique_id"] for result in run.results if result["status"] not in ("success", "pass")
    ]
    assert failed == []
    kinds = {result["unique_id"].split(".")[0] for result in run.results}
    assert {"model", "test", "unit_test"} <= kinds


def test_stitched_persons_equal_fixture_truth(database: Path) -> None:
    rows = query(
        database,
        "select identifier_type, identifier, person_key from intermediate.int_identities_stitched",
    )
    found: dict[str, dict[str, set[str]]] = {}
    for identifier_type, identifier, person_key in rows:
        kind = {"user_id": "user_ids", "anonymous_id": "anonymous_ids", "contact_id": "contacts"}[
            identifier_type
        ]
        found.setdefault(
            person_key, {"user_ids": set(), "anonymous_ids": set(), "contacts": set()}
        )[kind].add(identifier)
    assert found == fixtures.PERSONS


def test_dim_persons_counts_each_merged_person_once(database: Path) -> None:
    rows = records(database, "select * from marts.dim_persons")
    assert sorted(row["person_key"] for row in rows) == sorted(fixtures.PERSONS)
    for row in rows:
        truth = fixtures.PERSONS[row["person_key"]]
        assert row["n_user_ids"] == len(truth["user_ids"])
        assert row["n_anonymous_ids"] == len(truth["anonymous_ids"])
        assert row["has_crm_contact"] == bool(truth["contacts"])


def test_anonymous_id_identified_twice_stays_with_first_user(database: Path) -> None:
    rows = query(
        database,
        "select evidence, is_applied from intermediate.int_identity_links where from_id = 'anon-a7' order by linked_at",
    )
    assert rows == [("i-a7-u1", True), ("i-a7-u2", False)]


def test_duplicate_event_id_is_kept_once(database: Path) -> None:
    assert query(
        database, "select count(*) from marts.fct_activities where event_id = 'e-a1-1'"
    ) == [(1,)]
    staged = {
        row["event_id"]
        for row in fixtures.PRODUCT_EVENTS
        if row["event_type"] not in ("identify", "alias")
    }
    n_crm = sum(
        len(fixtures.RAW_ROWS[t])
        for t in ("crm_activities", "crm_deal_stage_changes", "crm_survey_responses")
    )
    assert query(database, "select count(*) from marts.fct_activities") == [(len(staged) + n_crm,)]


def test_personas_are_first_match_else_unassigned(database: Path) -> None:
    rows = query(
        database, "select person_key, persona_id from intermediate.int_persons_assigned_to_personas"
    )
    assert dict(rows) == fixtures.PERSONAS


def _property_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _oracle_stage(activity: Mapping[str, Any]) -> str | None:
    """The first stage (by stage_order) whose compiled rules match, from tests/reference."""
    properties = {
        key: _property_text(value) for key, value in json.loads(activity["properties"]).items()
    }
    for stage in fixtures.STAGES:
        clauses = [
            rule
            for rule in fixtures.JOURNEY_STAGE_RULES
            if rule["stage_id"] == stage
            and rule["activity_source"] == activity["activity_source"]
            and like_matches(rule["event_like"], activity["event"])
        ]
        conditions = [
            row
            for row in fixtures.JOURNEY_RULE_CONDITIONS
            if row["rule_kind"] == "stage"
            and row["owner_id"] == stage
            and row["clause_id"] in {clause["clause_id"] for clause in clauses}
        ]
        if clauses and eval_compiled(clauses, conditions, properties):
            return stage
    return None


def test_stage_matching_agrees_with_reference_evaluator(database: Path) -> None:
    activities = records(
        database,
        """
        select activities.event_id, activities.event, activities.activity_source,
            activities.properties, matched.stage_id
        from marts.fct_activities as activities
        left join intermediate.int_activities_matched_to_stages as matched
            on activities.event_id = matched.event_id
        """,
    )
    mismatches = [
        (row["event_id"], row["stage_id"], _oracle_stage(row))
        for row in activities
        if row["stage_id"] != _oracle_stage(row)
    ]
    assert mismatches == []


def test_journeys_show_loops_skips_and_status(database: Path) -> None:
    rows = query(
        database, "select person_key, stage_path, furthest_stage_id, status from marts.fct_journeys"
    )
    assert {
        key: (path, furthest, status) for key, path, furthest, status in rows
    } == fixtures.JOURNEYS


def test_loop_counts_two_entries_of_one_stage(database: Path) -> None:
    rows = query(
        database,
        "select stage_id, n_entries from marts.fct_stage_events where person_key = 'u:u2' order by stage_order",
    )
    assert rows == [("discover", 2), ("sign_up", 1), ("onboard", 2)]


def test_activity_after_window_close_is_outside_the_attempt(database: Path) -> None:
    rows = query(
        database,
        "select n_entries, last_activity_at from marts.fct_stage_events where person_key = 'u:u1' and stage_id = 'evaluate'",
    )
    assert rows == [(1, fixtures.at("01-05"))]


def test_mapping_coverage_counts_unmatched_activities(database: Path) -> None:
    """Per source: activities, unmatched ones and the top unmatched event names with counts
    (most first, ties by name), from the reference evaluator over every activity."""
    activities = records(
        database, "select event_id, event, activity_source, properties from marts.fct_activities"
    )
    expected = {}
    for source in {row["activity_source"] for row in activities}:
        rows = [row for row in activities if row["activity_source"] == source]
        unmatched: dict[str, int] = {}
        for row in rows:
            if _oracle_stage(row) is None:
                unmatched[row["event"]] = unmatched.get(row["event"], 0) + 1
        top = sorted(unmatched.items(), key=lambda item: (-item[1], item[0]))[:10]
        expected[(fixtures.JOURNEY, source)] = (
            len(rows),
            sum(unmatched.values()),
            ", ".join(f"{event} ({n})" for event, n in top) or None,
        )
    rows = query(
        database,
        "select journey_id, activity_source, n_activities, n_unmatched_activities, "
        "top_unmatched_events from marts.fct_mapping_coverage",
    )
    assert {(journey, source): rest for journey, source, *rest in rows} == {
        key: list(value) for key, value in expected.items()
    }
    assert sum(n for _, n, _ in expected.values()) > 0


def test_stream_check_names_lost_unexplained_doubled_and_misattributed_activities(
    database: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "broken_stream.duckdb"
    shutil.copy(database, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from marts.fct_activities where event_id = 'e-a1-1'")
        con.execute(
            "insert into marts.fct_activities by name select 'ghost' as event_id, "
            "* exclude (event_id) from marts.fct_activities order by event_id limit 1"
        )
        con.execute(
            "insert into marts.fct_activities select * from marts.fct_activities "
            "where event_id = 'e-u2-1'"
        )
        # what an incremental run that missed a re-stitch would leave behind
        con.execute(
            "update marts.fct_activities set person_key = 'a:stale' where event_id = 'e-u1-1'"
        )
    check = "assert_activity_stream_matches_staging"
    run = run_dbt(copy, tmp_path, "test", "--select", check, "--store-failures")
    assert run.returncode != 0
    tests = [r for r in run.results if r["unique_id"].startswith("test.")]
    assert [(r["status"], r["failures"]) for r in tests] == [("fail", 4)]
    rows = query(copy, f"select event_id, problem from dbt_test__audit.{check}")
    assert sorted(rows, key=str) == [
        ("e-a1-1", "staged activity not in fct_activities"),
        ("e-u1-1", "activity under another person than its identifiers stitch to"),
        ("ghost", "fct_activities row without a staged activity"),
        (None, "an event id is held twice in fct_activities"),
    ]


STREAM_FAULTS_KEEPING_THE_ROW_COUNT = {
    "stale person key": (
        ["update marts.fct_activities set person_key = 'a:stale' where event_id = 'e-u1-1'"],
        [("e-u1-1", "activity under another person than its identifiers stitch to")],
    ),
    "lost row, ghost row": (
        [
            "delete from marts.fct_activities where event_id = 'e-a1-1'",
            "insert into marts.fct_activities by name select 'ghost' as event_id, "
            "* exclude (event_id) from marts.fct_activities order by event_id limit 1",
        ],
        [
            ("e-a1-1", "staged activity not in fct_activities"),
            ("ghost", "fct_activities row without a staged activity"),
        ],
    ),
    "lost row, doubled row": (
        [
            "delete from marts.fct_activities where event_id = 'e-a1-1'",
            "insert into marts.fct_activities select * from marts.fct_activities "
            "where event_id = 'e-u2-1'",
        ],
        [
            ("e-a1-1", "staged activity not in fct_activities"),
            (None, "an event id is held twice in fct_activities"),
        ],
    ),
}


@pytest.mark.parametrize("fault", list(STREAM_FAULTS_KEEPING_THE_ROW_COUNT))
def test_stream_check_sees_faults_that_keep_the_row_count(
    database: Path, tmp_path: Path, fault: str
) -> None:
    """The check's summary compares counts and a fingerprint of (event id, person) pairs:
    a fault that keeps the stream's row count must still send it to the join that names it,
    while a stream that matches staging never pays for that join."""
    check = "assert_activity_stream_matches_staging"
    copy = tmp_path / "faulty_stream.duckdb"
    shutil.copy(database, copy)
    clean = run_dbt_ok(copy, tmp_path, "test", "--select", check)
    compiled = next((tmp_path / "target" / "compiled").rglob(f"{check}.sql"))
    assert [r["status"] for r in clean.results if r["unique_id"].startswith("test.")] == ["pass"]
    assert "full outer join" not in compiled.read_text()

    statements, problems = STREAM_FAULTS_KEEPING_THE_ROW_COUNT[fault]
    with duckdb.connect(str(copy)) as con:
        for statement in statements:
            con.execute(statement)
    run = run_dbt(copy, tmp_path, "test", "--select", check, "--store-failures")
    assert run.returncode != 0
    assert "full outer join" in compiled.read_text()
    rows = query(copy, f"select event_id, problem from dbt_test__audit.{check}")
    assert sorted(rows, key=str) == sorted(problems, key=str)


def test_sequence_check_names_a_person_whose_activity_seq_repeats(
    database: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "repeated_seq.duckdb"
    shutil.copy(database, copy)
    check = "assert_activity_seq_unique_per_person"
    run_dbt_ok(copy, tmp_path, "test", "--select", check)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update marts.fct_activities set activity_seq = 1 "
            "where person_key = 'u:u1' and activity_seq = 2"
        )
    run = run_dbt(copy, tmp_path, "test", "--select", check, "--store-failures")
    assert run.returncode != 0
    rows = query(copy, f"select person_key, activity_seq, n_rows from dbt_test__audit.{check}")
    assert rows == [("u:u1", 1, 2)]


def test_status_follows_the_as_of_var(database: Path, tmp_path: Path) -> None:
    copy = tmp_path / "as_of.duckdb"
    shutil.copy(database, copy)
    run_dbt_ok(
        copy,
        tmp_path,
        "run",
        "--select",
        "int_journey_attempts_opened+",
        "--vars",
        '{"as_of": "2026-01-15 00:00:00"}',
    )
    rows = query(copy, "select person_key, status from marts.fct_journeys")
    assert dict(rows) == {"u:u1": "converted", "u:u2": "in_progress", "c:c3": "in_progress"}


def test_incremental_run_after_new_rows_equals_full_rebuild(database: Path, tmp_path: Path) -> None:
    incremental = new_database(tmp_path / "incremental.duckdb", before=fixtures.INCREMENTAL_SPLIT)
    run_dbt_ok(incremental, tmp_path, "run")
    stale = (
        "select count(*) from marts.fct_activities where person_key in ('a:anon-a5', 'a:anon-a8')"
    )
    assert query(incremental, stale) == [(2,)]

    with duckdb.connect(str(incremental)) as con:
        fixtures.load_raw(con, since=fixtures.INCREMENTAL_SPLIT)
    run_dbt_ok(
        incremental,
        tmp_path,
        "run",
        "--vars",
        '{"min_date": "2026-03-01", "max_date": "2026-03-05"}',
    )
    assert query(incremental, stale) == [(0,)]

    assert_marts_equal(incremental, database)


def test_refresh_without_a_window_appends_new_rows_and_equals_full_rebuild(
    database: Path, tmp_path: Path
) -> None:
    """The daily refresh: rows newer than everything stored, for persons already there (appended
    after their stored activities) and new ones, beside identity links that re-stitch some
    (rebuilt), with no window passed."""
    daily = new_database(tmp_path / "daily.duckdb", before=fixtures.INCREMENTAL_SPLIT)
    run_dbt_ok(daily, tmp_path, "run")
    with duckdb.connect(str(daily)) as con:
        fixtures.load_raw(con, since=fixtures.INCREMENTAL_SPLIT)
        for table, rows in fixtures.RAW_ROWS.items():
            if any("ts" in row for row in rows):  # a later load than the first batch
                con.execute(
                    f"update raw.{table} set loaded_at = loaded_at + interval 1 day where ts >= ?",
                    [fixtures.INCREMENTAL_SPLIT],
                )
    run_dbt_ok(daily, tmp_path, "run")
    assert_marts_equal(daily, database)


def test_refresh_without_a_window_rebuilds_a_person_whose_stored_event_is_resent_later(
    database: Path, tmp_path: Path
) -> None:
    """A stored event sent again with a later timestamp, after all its person's others, is not
    an append: the person is rebuilt, so activity_seq keeps no gap where the old copy was."""
    changed_copy_rebuilt_both_ways(
        database,
        tmp_path,
        "resent",
        [
            "update raw.product_events set ts = timestamp '2026-06-01', "
            "loaded_at = loaded_at + interval 1 day where event_id = 'e-u1-1'"
        ],
    )


def test_refresh_without_a_window_keeps_the_first_copy_of_an_event_resent_in_a_later_load(
    database: Path, tmp_path: Path
) -> None:
    """A copy of a stored event in a later load (raw tables written by another loader) is
    ranked against the stored one: the copied ids are counted for the new load's ids."""
    resent = changed_copy_rebuilt_both_ways(
        database,
        tmp_path,
        "copied",
        [
            "insert into raw.product_events select * replace ("
            "'events/segment/zz-later.jsonl' as source_file, "
            "loaded_at + interval 1 day as loaded_at) "
            "from raw.product_events where event_id = 'e-u1-1'"
        ],
        "build",
        "--exclude-resource-type",
        "unit_test",
    )
    copied = "select event_id from staging.stg_product__copied_event_ids"
    assert ("e-u1-1",) in query(resent, copied)


def test_refresh_without_a_window_picks_up_late_rows_and_equals_full_rebuild(
    database: Path, tmp_path: Path
) -> None:
    """The scheduled refresh passes no window: rows that arrive late (older than everything
    already built) and identify links that re-stitch stored activities must still land."""
    late = new_database(tmp_path / "late.duckdb", since=fixtures.INCREMENTAL_SPLIT)
    with duckdb.connect(str(late)) as con:  # untimed rows (contacts, rules) are already there
        for table, rows in fixtures.RAW_ROWS.items():
            if not any("ts" in row for row in rows):
                con.execute(f"delete from raw.{table}")
        fixtures.load_raw(con, before=fixtures.INCREMENTAL_SPLIT)
        con.execute(
            "create temp table held as select * from raw.product_events where ts < ?",
            [fixtures.INCREMENTAL_SPLIT],
        )
        con.execute("delete from raw.product_events where ts < ?", [fixtures.INCREMENTAL_SPLIT])
        con.execute("create table raw.held_back as select * from held")
    run_dbt_ok(late, tmp_path, "run")
    load_held_back_rows(late)
    run_dbt_ok(late, tmp_path, "run")

    assert_marts_equal(late, database)


def test_refresh_without_a_window_restitches_stored_activities_after_late_identity_links(
    database: Path, tmp_path: Path
) -> None:
    """Identify and alias calls that arrive after the activities they link (none of which is
    loaded again) move those stored activities to their user: only the comparison with the
    identities of the last build can find them."""
    late = new_database(tmp_path / "late_links.duckdb")
    links = "event_type in ('identify', 'alias')"
    with duckdb.connect(str(late)) as con:
        con.execute(f"create table raw.held_back as select * from raw.product_events where {links}")
        con.execute(f"delete from raw.product_events where {links}")
    run_dbt_ok(late, tmp_path, "run")
    moved = "select count(*) from marts.fct_activities where person_key = 'a:anon-a8'"
    assert query(late, moved) != [(0,)]
    load_held_back_rows(late)
    run_dbt_ok(late, tmp_path, "run")
    assert query(late, moved) == [(0,)]
    assert_marts_equal(late, database)


def test_an_edited_journey_model_rematches_every_activity_and_drops_stale_matches(
    database: Path, tmp_path: Path
) -> None:
    """An incremental run after a journey model changed (its hash did) matches every stored
    activity again, with no new activity loaded, and forgets matches of a removed rule."""
    clicks = (
        "select count(*) from intermediate.int_activities_matched_to_stages "
        "where event = 'email_clicked'"
    )
    assert query(database, clicks) != [(0,)]
    edited = changed_copy_rebuilt_both_ways(
        database,
        tmp_path,
        "edited",
        [
            "delete from raw.journey_stage_rules "
            "where stage_id = 'discover' and event_pattern = 'email_clicked'",
            "update raw.journey_models set model_hash = 'edited'",
        ],
    )
    assert query(edited, clicks) == [(0,)]


def test_incremental_stage_matching_takes_only_rows_the_stream_wrote_since(
    database: Path, tmp_path: Path
) -> None:
    """Rows fct_activities did not write again keep their matches as they are: a stored match
    spoiled by hand survives an incremental run that loads nothing new."""
    spoiled = tmp_path / "spoiled.duckdb"
    shutil.copy(database, spoiled)
    marker = (
        "select count(*) from intermediate.int_activities_matched_to_stages where stage_order = -1"
    )
    with duckdb.connect(str(spoiled)) as con:
        con.execute("update intermediate.int_activities_matched_to_stages set stage_order = -1")
    run_dbt_ok(spoiled, tmp_path, "run", "--select", "int_activities_matched_to_stages")
    assert query(spoiled, marker) == query(
        database, "select count(*) from intermediate.int_activities_matched_to_stages"
    )


def test_a_stream_built_by_an_earlier_version_asks_for_a_full_refresh(
    database: Path, tmp_path: Path
) -> None:
    """The README's upgrade step: an incremental run refuses a stream without built_at (as an
    earlier version built it) and says to rebuild; --full-refresh does, as a full build."""
    old = tmp_path / "old_stream.duckdb"
    shutil.copy(database, old)
    with duckdb.connect(str(old)) as con:
        con.execute("alter table marts.fct_activities drop column built_at")
    refused = run_dbt(old, tmp_path, "run")
    assert refused.returncode != 0
    assert "full_refresh" in refused.output
    run_dbt_ok(old, tmp_path, "run", "--full-refresh")
    assert_marts_equal(old, database)


def test_incremental_run_without_saved_state_rebuilds_every_person(
    database: Path, tmp_path: Path
) -> None:
    """A stream built before the state was kept (or whose state was dropped) is rebuilt
    whole by its next incremental run, not left stale."""
    stale = new_database(tmp_path / "stateless.duckdb")
    run_dbt_ok(stale, tmp_path, "run")
    with duckdb.connect(str(stale)) as con:
        con.execute("drop schema incremental_state cascade")
        con.execute("update marts.fct_activities set person_key = 'a:stale', activity_seq = -1")
    run_dbt_ok(stale, tmp_path, "run")
    assert_marts_equal(stale, database)
    assert query(stale, "select count(*) from incremental_state.fct_activities__identities") != [
        (0,)
    ]
