"""The README's examples do what the README says."""

import re
from datetime import datetime
from pathlib import Path

from journey_mining.sources import read_landing

README = Path(__file__).parents[2] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_generic_mapping_example_loads_two_rows_and_rejects_the_third(tmp_path):
    [mapping] = [b for b in _blocks("yaml") if "columns:" in b and "event_id" in b]
    [table] = [b for b in _blocks("text") if b.startswith("occurred_at,")]
    feed = tmp_path / "landing" / "events" / "generic" / "webshop"
    feed.mkdir(parents=True)
    (feed / "mapping.yml").write_text(mapping)
    (feed / "2026-07-03.csv").write_text(table)

    result = read_landing(feed / "2026-07-03.csv", landing_root=tmp_path / "landing")

    assert result.rows["event_id"].to_list() == ["w-1", "w-2"]
    assert result.rows["ts"].to_list() == [datetime(2026, 7, 3, 10), datetime(2026, 7, 3, 10)]
    assert set(result.rows["source"]) == {"webshop"}
    [reject] = result.rejects.iter_rows(named=True)
    assert reject["source_line"] == 4
    assert reject["source_file"] == "events/generic/webshop/2026-07-03.csv"
    assert f"`{reject['reason']}`" in README.read_text()  # the README quotes the real reason
