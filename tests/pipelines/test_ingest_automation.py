"""The landing sensor and the ingest asset's handling of late rows, through real Dagster."""

import json
from datetime import date

import dagster as dg
import duckdb

from pipelines.definitions import defs
from pipelines.sensors import landing_files_sensor


def _event(message_id: str, ts: str) -> str:
    return json.dumps(
        {"type": "track", "messageId": message_id, "userId": "u", "event": "E", "timestamp": ts}
    )


def _write(landing, name: str, *lines: str) -> None:
    path = landing / "events" / "segment" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _evaluate(cursor: str | None) -> dg.SensorResult:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        result = landing_files_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_sensor_requests_the_days_new_files_may_hold_then_waits_for_changes(journeymap_home):
    landing = journeymap_home / "landing"
    _write(landing, "2026-07-10.jsonl", _event("a", "2026-07-10T10:00:00Z"))

    first = _evaluate(None)
    [request] = first.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2026-07-07"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-07-10"

    again = _evaluate(first.cursor)
    assert not again.run_requests
    assert again.skip_reason is not None

    _write(landing, "2026-07-12.jsonl", _event("b", "2026-07-12T10:00:00Z"))
    later = _evaluate(first.cursor)
    [request] = later.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2026-07-09"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-07-12"
    assert request.tags["journeymap/changed_files"] == "1"


def test_a_very_late_row_is_loaded_into_its_own_day_and_that_day_is_marked(journeymap_home):
    landing = journeymap_home / "landing"
    _write(landing, "2026-07-01.jsonl", _event("early", "2026-07-01T08:00:00Z"))
    # exported ten days later, far beyond the three late days a run looks back
    _write(
        landing,
        "2026-07-11.jsonl",
        _event("very-late", "2026-07-01T09:00:00Z"),
        _event("on-time", "2026-07-11T09:00:00Z"),
    )
    job = defs.resolve_job_def("ingest_daily")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key="2026-07-11",
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        assert result.success
        marked = {
            (m.asset_key.to_user_string(), m.partition)
            for m in result.get_asset_materialization_events()
            for m in [m.step_materialization_data.materialization]
        }
    assert ("raw/product_events", "2026-07-01") in marked
    assert ("raw/product_events", "2026-07-11") in marked
    with duckdb.connect(str(journeymap_home / "journeymap.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select event_id, event_date from raw.product_events order by 1"
        ).fetchall()
    # the 2026-07-01 file is not one the run staged, so only the late copy's day is reloaded
    assert rows == [("on-time", date(2026, 7, 11)), ("very-late", date(2026, 7, 1))]
