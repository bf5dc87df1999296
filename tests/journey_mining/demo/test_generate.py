"""The demo generator: determinism, planted dirt, contract shapes and ground truth, all
checked by reading the written files independently of the generator."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from journey_mining.demo import DemoSummary, generate_demo
from tests.journey_mining.demo.conftest import (
    END,
    PERSONS,
    START,
    Line,
    canonical_event,
    csv_rows,
    event_id,
    event_ts,
)

STAGES = ["discover", "sign_up", "onboard", "activate", "evaluate", "purchase"]
AS_OF = datetime(END.year, END.month, END.day, 23, 59, 59, 999_000, tzinfo=UTC)
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SEGMENT_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
AMPLITUDE_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def all_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def unique_events(lines: list[Line]) -> dict[str, Line]:
    first: dict[str, Line] = {}
    for line in lines:
        if line.obj is not None:
            first.setdefault(event_id(line), line)
    return first


def persona_by_rules(role: str, size: int) -> str:
    """Data contract §4, written again here: first match wins."""
    if role in {"IT Admin", "IT Manager", "Systems Administrator"}:
        return "it_admin"
    if "developer" in role.lower() or "engineer" in role.lower():
        return "developer"
    if role in {"Team Lead", "Head of Operations", "Director"} and size >= 50:
        return "team_lead"
    return "unassigned"


def product_stage(name: str, props: dict[str, Any]) -> str | None:
    page = props.get("name")
    if name == "Page Viewed" and page in {"Home", "Features", "Blog"}:
        return "discover"
    if name == "Page Viewed" and page == "Pricing":
        return "evaluate"
    if name == "Signed Up":
        return "sign_up"
    if name in {"Onboarding Completed", "Project Created"}:
        return "onboard"
    if name == "Teammate Invited" or (name == "Report Shared" and props["recipients"] >= 1):
        return "activate"
    if name == "Subscription Started" and props["plan"] not in {"free"}:
        return "purchase"
    return None


def crm_ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture(scope="module")
def persons(demo: DemoSummary) -> pl.DataFrame:
    return pl.read_parquet(demo.persons_path)


@pytest.fixture(scope="module")
def stage_events(
    demo: DemoSummary, lines: list[Line], persons: pl.DataFrame
) -> dict[str, list[tuple[datetime, int]]]:
    """Per contact: (instant, stage index) of every emitted stage event, from the files."""
    by_user: dict[str, str] = {}
    by_anon: dict[str, str] = {}
    for row in persons.iter_rows(named=True):
        if row["user_id"]:
            by_user[row["user_id"]] = row["contact_id"]
        for anon in row["anonymous_ids"]:
            by_anon[anon] = row["contact_id"]
    events: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for line in unique_events(lines).values():
        name, user, anon, props = canonical_event(line)
        stage = product_stage(name, props)
        if stage is not None:
            contact = by_user[user] if user else by_anon[str(anon)]
            events[contact].append((event_ts(line), STAGES.index(stage)))
    crm = demo.landing_dir / "crm" / "hubspot"
    crm_stage = {"Marketing Email Clicked": 0, "Demo": 4, "Meeting": 4, "Sales Call": 4}
    for row in csv_rows(crm / "activities")[1]:
        if row["Activity Type"] in crm_stage and ISO_Z.match(row["Activity Date"]):
            events[row["Associated Contact ID"]].append(
                (crm_ts(row["Activity Date"]), crm_stage[row["Activity Type"]])
            )
    for row in csv_rows(crm / "deal_stage_changes")[1]:
        if row["Deal Stage"] == "closedwon":
            events[row["Associated Contact ID"]].append((crm_ts(row["Stage Changed At"]), 5))
    for found in events.values():
        found.sort()
    return events


def collapse(events: list[tuple[datetime, int]]) -> list[str]:
    path: list[str] = []
    for _, stage in events:
        if not path or path[-1] != STAGES[stage]:
            path.append(STAGES[stage])
    return path


# ------------------------------------------------------------------------------ determinism


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", persons=1_200, seed=3, chunk_persons=500)
    b = generate_demo(tmp_path / "b", persons=1_200, seed=3, chunk_persons=500)
    files_a, files_b = all_files(a.out_dir), all_files(b.out_dir)
    assert len(files_a) == a.files + 2
    assert files_a == files_b


def test_different_seed_writes_different_files(tmp_path: Path) -> None:
    a = generate_demo(tmp_path / "a", persons=800, seed=3)
    b = generate_demo(tmp_path / "b", persons=800, seed=4)
    files_a, files_b = all_files(a.out_dir), all_files(b.out_dir)
    assert (
        files_a["landing/crm/hubspot/contacts.csv"] != files_b["landing/crm/hubspot/contacts.csv"]
    )
    assert files_a["ground_truth_persons.parquet"] != files_b["ground_truth_persons.parquet"]
    shared = set(files_a) & set(files_b)
    assert all(files_a[name] != files_b[name] for name in shared if "/events/" in name)


def test_rerun_replaces_earlier_output(tmp_path: Path) -> None:
    generate_demo(tmp_path, persons=900, seed=5)
    again = generate_demo(tmp_path, persons=300, seed=5)
    _, contacts = csv_rows(again.landing_dir / "crm/hubspot/contacts.csv")
    assert len(contacts) == 300


def test_progress_reports_each_phase(tmp_path: Path) -> None:
    messages: list[str] = []
    generate_demo(tmp_path, persons=250, chunk_persons=100, progress=messages.append)
    assert sum("simulating" in m for m in messages) == 3
    assert sum(m.endswith(": writing") for m in messages) == 3
    assert messages[-1] == "writing ground truth"


def test_invalid_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="persons"):
        generate_demo(tmp_path, persons=0)
    with pytest.raises(ValueError, match="before start"):
        generate_demo(tmp_path, start=date(2026, 8, 1), end=date(2026, 7, 1))


# ------------------------------------------------------------------------------ layout, shapes


def test_landing_layout_follows_the_contract(demo: DemoSummary) -> None:
    names = [p.relative_to(demo.landing_dir).as_posix() for p in demo.landing_dir.rglob("*.*")]
    patterns = [
        r"events/segment/\d{4}-\d{2}-\d{2}\.jsonl\.gz",
        r"events/amplitude/\d{4}-\d{2}-\d{2}\.json\.gz",
        r"events/mixpanel/\d{4}-\d{2}-\d{2}\.jsonl\.zst",
        r"crm/hubspot/contacts\.csv",
        r"crm/hubspot/(activities|deal_stage_changes|survey_responses)/\d{4}-\d{2}-\d{2}\.csv",
    ]
    assert all(any(re.fullmatch(p, n) for p in patterns) for n in names)
    assert {n.split("/")[1] for n in names if n.startswith("events/")} == {
        "segment",
        "amplitude",
        "mixpanel",
    }
    days = {date.fromisoformat(Path(n).name[:10]) for n in names if n != "crm/hubspot/contacts.csv"}
    assert min(days) >= START
    assert max(days) <= END
    assert demo.files == len(names)


def test_segment_lines_have_the_contract_shape(lines: list[Line]) -> None:
    seen = Counter()
    for line in lines:
        if line.source != "segment" or line.obj is None:
            continue
        obj = line.obj
        seen[obj["type"]] += 1
        assert obj["messageId"].startswith("m-")
        assert SEGMENT_TS.match(obj["timestamp"])
        if obj["type"] == "track":
            assert isinstance(obj["event"], str)
            assert isinstance(obj["properties"], dict)
            assert obj["userId"].startswith("u_")
        elif obj["type"] == "page":
            assert obj["name"] in {"Home", "Features", "Blog", "Pricing", "Docs"}
            assert obj["properties"]["path"].startswith("/")
        elif obj["type"] == "identify":
            assert set(obj["traits"]) == {"email", "plan", "platform"}
            assert obj["traits"]["plan"] == "trial"
            assert obj["anonymousId"].startswith("anon-")
        else:
            assert obj["type"] == "alias"
            assert obj["previousId"].startswith("anon-")
            assert obj["userId"].startswith("u_")
        if obj["type"] != "alias":
            assert obj["userId"] is not None or obj["anonymousId"] is not None
    assert set(seen) == {"track", "page", "identify", "alias"}


def test_amplitude_rows_have_the_contract_shape(lines: list[Line]) -> None:
    rows = [line.obj for line in lines if line.source == "amplitude" and line.obj is not None]
    assert rows
    keys = {
        "insert_id",
        "event_type",
        "user_id",
        "device_id",
        "event_time",
        "event_properties",
        "user_properties",
        "platform",
    }
    for obj in rows:
        assert set(obj) == keys
        assert AMPLITUDE_TS.match(obj["event_time"])
        assert obj["platform"] in {"iOS", "Android"}
        assert obj["device_id"].startswith("anon-")


def test_mixpanel_rows_have_the_contract_shape(lines: list[Line]) -> None:
    rows = [line for line in lines if line.source == "mixpanel"]
    assert rows
    assert all(line.obj is not None for line in rows)
    for line in rows:
        assert line.obj is not None
        props = line.obj["properties"]
        assert isinstance(props["time"], int)
        assert props["time"] > 10**11
        assert props["$insert_id"]
        assert props["distinct_id"].startswith(("u_", "$device:anon-"))
        assert event_ts(line) < datetime(2026, 7, 15, tzinfo=UTC)


def test_csv_exports_have_the_contract_columns(demo: DemoSummary) -> None:
    crm = demo.landing_dir / "crm" / "hubspot"
    header, contacts = csv_rows(crm / "contacts.csv")
    assert header == [
        "Record ID", "Email", "First Name", "Last Name", "Company Name", "Job Title",
        "Number of Employees", "Segment", "Lifecycle Stage", "Create Date", "Product User ID",
    ]  # fmt: skip
    assert len(contacts) == PERSONS
    assert all(
        ISO_Z.match(r["Create Date"]) and int(r["Number of Employees"]) > 0 for r in contacts
    )
    header, activities = csv_rows(crm / "activities")
    assert header == [
        "Activity ID", "Associated Contact ID", "Activity Type", "Activity Date", "Channel",
        "Subject",
    ]  # fmt: skip
    types = {
        "Marketing Email Sent": "email", "Marketing Email Opened": "email",
        "Marketing Email Clicked": "email", "Sales Call": "sales", "Meeting": "sales",
        "Demo": "sales", "Ticket Opened": "support", "Ticket Closed": "support",
    }  # fmt: skip
    assert all(types[r["Activity Type"]] == r["Channel"] for r in activities)
    header, deals = csv_rows(crm / "deal_stage_changes")
    assert header == [
        "Deal ID",
        "Associated Contact ID",
        "Deal Stage",
        "Amount",
        "Stage Changed At",
    ]
    stages = {
        "appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent",
        "closedwon", "closedlost",
    }  # fmt: skip
    assert {r["Deal Stage"] for r in deals} == stages
    assert all(float(r["Amount"]) > 0 and ISO_Z.match(r["Stage Changed At"]) for r in deals)
    header, surveys = csv_rows(crm / "survey_responses")
    assert header == [
        "Response ID", "Contact ID", "Survey Type", "Score", "Comment", "Submitted At", "Channel",
    ]  # fmt: skip
    ranges = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}
    for r in surveys:
        low, high = ranges[r["Survey Type"]]
        assert low <= int(r["Score"]) <= high
        assert r["Channel"] in {"email", "app"}
        assert ISO_Z.match(r["Submitted At"])


def test_every_event_lies_inside_the_demo_period(demo: DemoSummary, lines: list[Line]) -> None:
    begin = datetime(START.year, START.month, START.day, tzinfo=UTC)
    instants = [event_ts(line) for line in unique_events(lines).values()]
    crm = demo.landing_dir / "crm" / "hubspot"
    for folder, column in (
        ("activities", "Activity Date"),
        ("deal_stage_changes", "Stage Changed At"),
        ("survey_responses", "Submitted At"),
    ):
        instants += [crm_ts(r[column]) for r in csv_rows(crm / folder)[1] if ISO_Z.match(r[column])]
    assert begin <= min(instants)
    assert max(instants) <= AS_OF


def test_events_go_to_the_source_of_their_time_and_platform(
    lines: list[Line], persons: pl.DataFrame
) -> None:
    mobile = {
        r["user_id"] for r in persons.iter_rows(named=True) if r["platform"] in {"ios", "android"}
    }
    migration = datetime(2026, 7, 15, tzinfo=UTC)
    for line in unique_events(lines).values():
        at = event_ts(line)
        _, user, _, _ = canonical_event(line)
        if line.source == "mixpanel":
            assert at < migration
        else:
            assert at >= migration
        if line.source == "amplitude":
            assert user in mobile


# ------------------------------------------------------------------------------ planted dirt


def test_planted_counts_equal_what_is_on_disk(
    demo: DemoSummary, truth: dict[str, Any], lines: list[Line]
) -> None:
    malformed: Counter[str] = Counter()
    in_file = across = offsets = 0
    first: dict[str, Line] = {}
    per_file: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in lines:
        if line.obj is None:
            malformed[line.source] += 1
            continue
        if line.source == "segment" and not line.obj["timestamp"].endswith("Z"):
            offsets += 1
        key = event_id(line)
        if key in per_file[line.source, line.file]:
            in_file += 1
        elif key in first:
            across += 1
            assert first[key].day < line.day
            assert first[key].text == line.text
        else:
            first[key] = line
        per_file[line.source, line.file].add(key)
    late = sum(event_ts(line).date() < line.day for line in first.values())
    names = Counter(canonical_event(line)[0] for line in first.values())
    identity_ts = Counter(
        (canonical_event(line)[1] or canonical_event(line)[2], event_ts(line))
        for line in first.values()
    )
    _, activities = csv_rows(demo.landing_dir / "crm/hubspot/activities")
    bad_dates = sum(not ISO_Z.match(r["Activity Date"]) for r in activities)

    planted = truth["planted"]
    assert planted["malformed_lines_by_source"] == {
        "segment": malformed["segment"],
        "amplitude": malformed["amplitude"],
    }
    assert malformed["mixpanel"] == 0
    assert planted["malformed_lines"] == sum(malformed.values()) > 0
    assert planted["duplicate_lines_within_file"] == in_file > 0
    assert planted["duplicates_across_files"] == across > 0
    assert planted["late_arrivals"] == late > 0
    assert planted["offset_timestamps"] == offsets > 0
    assert planted["unknown_events_by_name"] == {
        "test_event": names["test_event"],
        "btn_clk_v2": names["btn_clk_v2"],
    }
    assert planted["unknown_events"] == names["test_event"] + names["btn_clk_v2"] > 0
    assert planted["equal_timestamps"] == sum(n > 1 for n in identity_ts.values()) > 0
    assert planted["unparseable_dates"] == bad_dates > 0


def test_expected_ingest_counts_add_up(
    demo: DemoSummary, truth: dict[str, Any], lines: list[Line]
) -> None:
    expected = truth["expected"]
    unique = unique_events(lines)
    product = expected["product_events"]
    assert product["rows_read"] == len(lines) == demo.product_events
    assert product["loaded"] == len(unique)
    assert product["rejected"] == sum(line.obj is None for line in lines)
    assert product["rows_read"] == product["loaded"] + product["rejected"] + product["duplicates"]
    by_source = Counter(line.source for line in unique.values())
    assert expected["product_events_loaded_by_source"] == dict(by_source)
    crm = demo.landing_dir / "crm" / "hubspot"
    for table, folder in (
        ("crm_contacts", "contacts.csv"),
        ("crm_activities", "activities"),
        ("crm_deal_stage_changes", "deal_stage_changes"),
        ("crm_survey_responses", "survey_responses"),
    ):
        rows = csv_rows(crm / folder)[1]
        figures = expected[table]
        assert figures["rows_read"] == len(rows)
        assert figures["loaded"] + figures["rejected"] + figures["duplicates"] == len(rows)
    assert expected["rejected"] == sum(expected["rejected_by_kind"].values())


def test_offset_timestamps_keep_the_utc_instant(lines: list[Line]) -> None:
    offsets = [
        line for line in lines
        if line.source == "segment" and line.obj is not None
        and not line.obj["timestamp"].endswith("Z")
    ]  # fmt: skip
    assert {line.obj["timestamp"][-6:] for line in offsets if line.obj} >= {"+02:00", "-05:00"}
    assert all(event_ts(line).date() <= line.day for line in offsets)


# ------------------------------------------------------------------------------ ground truth


def test_persona_attributes_satisfy_the_persona_rules(
    demo: DemoSummary, persons: pl.DataFrame
) -> None:
    _, contacts = csv_rows(demo.landing_dir / "crm/hubspot/contacts.csv")
    persona = dict(zip(persons["contact_id"], persons["persona"], strict=True))
    for row in contacts:
        role, size = row["Job Title"], int(row["Number of Employees"])
        assert persona_by_rules(role, size) == persona[row["Record ID"]]
        if persona[row["Record ID"]] in {"team_lead", "unassigned"}:
            assert not re.search("developer|engineer", role, re.IGNORECASE)
    small_leads = [
        r for r in contacts
        if r["Job Title"] in {"Team Lead", "Head of Operations", "Director"}
        and int(r["Number of Employees"]) < 50
    ]  # fmt: skip
    assert small_leads
    assert {persona[r["Record ID"]] for r in small_leads} == {"unassigned"}
    assert set(persona.values()) == {"it_admin", "developer", "team_lead", "unassigned"}


def test_truth_paths_match_the_events_on_disk(
    persons: pl.DataFrame, stage_events: dict[str, list[tuple[datetime, int]]]
) -> None:
    for row in persons.iter_rows(named=True):
        found = stage_events[row["contact_id"]]
        assert collapse(found) == row["stage_path"], row["contact_id"]
        assert row["entered_at"] == found[0][0]
        assert row["furthest_stage"] == max(row["stage_path"], key=STAGES.index)
        for k, stage in enumerate(STAGES):
            reached = [at for at, s in found if s == k]
            assert row[f"reached_{stage}_at"] == (min(reached) if reached else None)


def test_truth_flags_agree_with_the_paths(persons: pl.DataFrame) -> None:
    for row in persons.iter_rows(named=True):
        path = row["stage_path"]
        furthest = STAGES.index(row["furthest_stage"])
        assert row["has_loop"] == (len(path) != len(set(path)))
        assert row["skipped_stages"] == [s for s in STAGES[:furthest] if s not in path]
        assert row["window_open_at_end"] == (row["entered_at"] + timedelta(days=30) > AS_OF)
        assert path[0] == "discover"
    assert persons["has_loop"].sum() > 0
    assert persons["skipped_stages"].list.contains("onboard").sum() > 0
    assert persons["skipped_stages"].list.contains("evaluate").sum() > 0


def test_every_journey_fits_the_thirty_day_window(persons: pl.DataFrame) -> None:
    last = pl.max_horizontal(f"reached_{s}_at" for s in STAGES)
    spans = persons.select(span=last - pl.col("entered_at"))["span"]
    assert spans.max() < timedelta(days=30)


def test_ground_truth_counts_match_the_persons_file(
    truth: dict[str, Any], persons: pl.DataFrame
) -> None:
    assert truth["persons"] == persons.height == PERSONS
    assert truth["personas"] == dict(persons["persona"].value_counts().iter_rows())
    assert truth["persons_with_loop"] == persons["has_loop"].sum()
    for stage in ("onboard", "evaluate"):
        skipped = persons["skipped_stages"].list.contains(stage).sum()
        assert truth["persons_with_skip"][stage] == skipped
    assert truth["persons_window_open_at_end"] == persons["window_open_at_end"].sum()
    assert truth["persons_in_progress_at_end"] == persons["in_progress_at_end"].sum()
    assert truth["persons_not_linked_to_contact"] == (~persons["is_linked_to_contact"]).sum()
    for pid, figures in truth["by_persona"].items():
        mine = persons.filter(pl.col("persona") == pid)
        for stage in STAGES:
            assert figures["reached"][stage] == mine["stage_path"].list.contains(stage).sum()
    parameters = truth["parameters"]["personas"]
    assert set(parameters) == {"it_admin", "developer", "team_lead", "unassigned"}
    assert set(parameters["developer"]["advance"]) == {
        f"{a}->{b}" for a, b in itertools.pairwise(STAGES)
    }


def test_personas_behave_differently(truth: dict[str, Any]) -> None:
    def rate(pid: str, a: str, b: str) -> float:
        reached = truth["by_persona"][pid]["reached"]
        return float(reached[b] / reached[a])

    assert rate("developer", "discover", "sign_up") > rate("team_lead", "discover", "sign_up")
    skipped = {p: f["skipped"]["evaluate"] / f["persons"] for p, f in truth["by_persona"].items()}
    assert skipped["developer"] > skipped["team_lead"]


def test_surveys_fall_inside_the_stage_they_follow(
    demo: DemoSummary, stage_events: dict[str, list[tuple[datetime, int]]], truth: dict[str, Any]
) -> None:
    follows = {"CSAT": "onboard", "CES": "evaluate", "NPS": "purchase"}
    _, surveys = csv_rows(demo.landing_dir / "crm/hubspot/survey_responses")
    scores: dict[str, list[int]] = defaultdict(list)
    for row in surveys:
        at = crm_ts(row["Submitted At"])
        before = [s for t, s in stage_events[row["Contact ID"]] if t < at]
        assert STAGES[before[-1]] == follows[row["Survey Type"]]
        scores[follows[row["Survey Type"]]].append(int(row["Score"]))
    for stage, values in scores.items():
        realised = truth["sentiment"][stage]["realised_mean"]
        assert realised == pytest.approx(sum(values) / len(values), abs=1e-4)


def test_identities_link_by_product_user_id_or_by_email_only(
    demo: DemoSummary, lines: list[Line], persons: pl.DataFrame
) -> None:
    _, contacts = csv_rows(demo.landing_dir / "crm/hubspot/contacts.csv")
    crm = {r["Record ID"]: r for r in contacts}
    traits: dict[str, str] = {}
    for line in unique_events(lines).values():
        name, user, _, props = canonical_event(line)
        if name == "identify" and user is not None:
            obj = line.obj or {}
            traits[user] = (obj.get("traits") or props)["email"]
    users = persons.filter(pl.col("user_id").is_not_null())
    linked = 0
    for row in users.iter_rows(named=True):
        contact = crm[row["contact_id"]]
        email = traits[row["user_id"]]
        if contact["Product User ID"]:
            assert contact["Product User ID"] == row["user_id"]
            linked += 1
        else:
            assert contact["Email"] != email
            assert contact["Email"].strip().lower() == email.lower()
    assert 0.6 < linked / users.height < 0.8
    two_devices = users.filter(pl.col("anonymous_ids").list.len() == 2)
    assert 0.05 < two_devices.height / users.height < 0.3


def test_only_persons_marked_unlinked_lack_a_tie_to_their_contact(
    demo: DemoSummary, persons: pl.DataFrame
) -> None:
    _, activities = csv_rows(demo.landing_dir / "crm/hubspot/activities")
    touched = {r["Associated Contact ID"] for r in activities}
    for row in persons.iter_rows(named=True):
        tied = row["user_id"] is not None or row["contact_id"] in touched
        assert tied == row["is_linked_to_contact"]
