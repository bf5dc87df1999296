from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from journey_mining.sources import SHAPES, LandingFileError, detect, landing_files, read_landing

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("relative", "shape", "source"),
    [
        ("events/segment/2026-07-03.jsonl", "segment", "segment"),
        ("events/amplitude/2026-07-03.json.gz", "amplitude", "amplitude"),
        ("events/mixpanel/2026-07-03.jsonl.zst", "mixpanel", "mixpanel"),
        ("events/generic/shop/2026-07-03.csv", "generic", "generic"),
        ("crm/hubspot/contacts.csv", "crm_contacts", "hubspot"),
        ("crm/salesforce/activities/2026-07-03.csv", "crm_activities", "salesforce"),
        ("crm/hubspot/deal_stage_changes/2026-07-03.csv", "crm_deal_stage_changes", "hubspot"),
        ("crm/hubspot/survey_responses/2026-07-03.csv", "crm_survey_responses", "hubspot"),
    ],
)
def test_shape_follows_the_landing_folder(relative: str, shape: str, source: str) -> None:
    file = detect(LANDING / relative, LANDING)
    assert (file.shape.name, file.source, file.source_file) == (shape, source, relative)


def test_unknown_folder_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(LandingFileError, match="not under a known landing folder"):
        detect(tmp_path / "misc" / "x.csv", tmp_path)


def test_landing_files_lists_every_fixture_with_export_dates() -> None:
    files = landing_files(LANDING)
    assert {f.shape.name for f in files} == set(SHAPES)
    assert all(f.export_date == date(2026, 7, 3) for f in files if "contacts" not in f.source_file)


def test_every_fixture_conserves_rows() -> None:
    for file in landing_files(LANDING):
        result = read_landing(file.path, landing_root=LANDING, now=NOW)
        assert result.conserved, file.source_file
        assert result.rows["source_file"].unique().to_list() in ([], [file.source_file])
