from datetime import date

import pytest

from journey_mining.journey_map.snapshot import (
    SNAPSHOT_COLUMNS,
    mining_tables,
    previous_period,
    previous_period_figures,
    read_figures,
    snapshot,
    snapshot_periods,
)
from tests.journey_mining.journey_map.conftest import MODEL_HASH

TABLES = (
    "conformance",
    "deviations",
    "loops_and_skips",
    "stage_dfg",
    "stage_funnel",
    "stage_sentiment",
    "stage_timing",
    "stage_variants",
)


def _count(con, table, period=None):
    if period is None:
        return con.execute(f"select count(*) from mining.{table}").fetchone()[0]
    return con.execute(
        f"select count(*) from mining.{table}_snapshots where snapshot_period = ?", [period]
    ).fetchone()[0]


def test_a_snapshot_copies_every_mining_table_with_its_keys(map_db):
    with map_db.connect() as con:
        assert mining_tables(con) == TABLES
        result = snapshot(con, "2026-02", date(2026, 3, 1))
        assert result.written == TABLES
        assert result.kept == ()
        for table in TABLES:
            assert result.rows[table] == _count(con, table) == _count(con, table, "2026-02")
        columns = [r[0] for r in con.execute("describe mining.stage_funnel_snapshots").fetchall()]
        assert tuple(columns[: len(SNAPSHOT_COLUMNS)]) == SNAPSHOT_COLUMNS
        hashes = con.execute(
            "select distinct model_hash, snapshot_date, snapshot_as_of "
            "from mining.stage_funnel_snapshots where journey_id = 'trip'"
        ).fetchall()
        assert [(h, d, str(a)) for h, d, a in hashes] == [
            (MODEL_HASH, date(2026, 3, 1), "2026-02-28 23:00:00")
        ]
        assert "snapshot_log" not in mining_tables(con)


def test_snapshot_tables_match_the_source_row_for_row(map_db):
    with map_db.connect() as con:
        snapshot(con, "2026-02", date(2026, 3, 1))
        [(differences,)] = con.execute(
            "select count(*) from (select * from mining.stage_funnel except all "
            "select * exclude (snapshot_period, snapshot_date, snapshot_at, model_hash, "
            "snapshot_as_of) from mining.stage_funnel_snapshots)"
        ).fetchall()
    assert differences == 0


def test_rerunning_a_period_neither_duplicates_nor_overwrites_it(map_db):
    with map_db.connect() as con:
        snapshot(con, "2026-02", date(2026, 3, 1))
        before = con.execute("select sum(converted) from mining.stage_funnel_snapshots").fetchone()[
            0
        ]
        con.execute("update mining.stage_funnel set converted = converted + 1")
        again = snapshot(con, "2026-02", date(2026, 3, 2))
        assert again.written == ()
        assert again.kept == TABLES
        assert _count(con, "stage_funnel", "2026-02") == _count(con, "stage_funnel")
        after = con.execute("select sum(converted) from mining.stage_funnel_snapshots").fetchone()
        assert after[0] == before


def test_force_appends_a_newer_snapshot_and_readers_take_it(map_db):
    with map_db.connect() as con:
        snapshot(con, "2026-02", date(2026, 3, 1))
        con.execute("update mining.stage_funnel set entered = entered + 1000")
        result = snapshot(con, "2026-02", date(2026, 3, 5), force=True, tables=["stage_funnel"])
        assert result.written == ("stage_funnel",)
        assert _count(con, "stage_funnel", "2026-02") == 2 * _count(con, "stage_funnel")
        frame = read_figures(con, "stage_funnel", "trip", "2026-02")
        assert frame is not None
        assert frame.get_column("snapshot_date").unique().to_list() == [date(2026, 3, 5)]
        assert frame.get_column("entered").min() >= 1000
        snapshot(con, "2026-02", date(2026, 3, 5), force=True, tables=["stage_funnel"])
        assert _count(con, "stage_funnel", "2026-02") == 2 * _count(con, "stage_funnel")


def test_history_survives_a_changed_journey_model(map_db):
    with map_db.connect() as con:
        snapshot(con, "2026-01", date(2026, 2, 1))
        con.execute("update staging.stg_journey__models set model_hash = 'new'")
        con.execute("delete from mining.stage_funnel where stage_id = 'book'")
        con.execute("alter table mining.stage_funnel add column lost_share double")
        snapshot(con, "2026-02", date(2026, 3, 1))
        rows = dict(
            con.execute(
                "select snapshot_period, any_value(model_hash) from mining.stage_funnel_snapshots "
                "where journey_id = 'trip' group by all"
            ).fetchall()
        )
        assert rows == {"2026-01": MODEL_HASH, "2026-02": "new"}
        old = read_figures(con, "stage_funnel", "trip", "2026-01")
        assert old is not None
        assert "book" in old.get_column("stage_id").to_list()
        assert old.get_column("lost_share").null_count() == old.height


def test_previous_period_is_the_latest_earlier_snapshot(map_db):
    with map_db.connect() as con:
        assert previous_period(con, "trip", "2026-02") is None
        assert previous_period_figures(con, "trip", "2026-02") is None
        snapshot(con, "2025-11", date(2025, 12, 1))
        snapshot(con, "2026-01", date(2026, 2, 1))
        snapshot(con, "2026-02", date(2026, 3, 1))
        assert snapshot_periods(con, "trip") == ("2025-11", "2026-01", "2026-02")
        assert previous_period(con, "trip", "2026-02") == "2026-01"
        assert previous_period(con, "trip", "2026-01") == "2025-11"
        found = previous_period_figures(con, "trip", "2026-03", "stage_timing")
        assert found is not None
        period, frame = found
        assert period == "2026-02"
        assert set(frame.get_column("journey_id").to_list()) == {"trip"}


def test_a_failed_snapshot_writes_nothing(map_db):
    with map_db.connect() as con:
        with pytest.raises(ValueError, match="does not exist"):
            snapshot(con, "2026-02", date(2026, 3, 1), tables=["stage_funnel", "nope"])
        assert snapshot_periods(con) == ()
        with pytest.raises(ValueError, match="YYYY-MM"):
            snapshot(con, "2026-13", date(2026, 3, 1))
        with pytest.raises(ValueError, match="plain table name"):
            snapshot(con, "2026-02", tables=["stage_funnel; drop table x"])
