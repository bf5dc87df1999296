import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.analyst_commands import register

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
DATASETS = ROOT / "tests" / "fixtures" / "datasets"


def parser():
    top = argparse.ArgumentParser(prog="journey")
    register(top.add_subparsers(dest="command", required=True))
    return top


def run(argv, capsys):
    args = parser().parse_args([str(a) for a in argv])
    status = args.handler(args)
    return status, capsys.readouterr().out


def test_funnel_steps_prints_json_with_persons(capsys):
    status, out = run(
        ["funnel", FIXTURES / "semicolon_bom.csv", "--steps", "signed_up,clicked", "--persons"],
        capsys,
    )
    document = json.loads(out)
    assert status == 0
    assert [s["count"] for s in document["steps"]] == [2, 1]
    assert document["steps"][0]["persons"] == ["NA", "u1"]
    assert document["steps"][1]["median_seconds_from_previous"] == 1800.5
    assert document["breakdown"] == []


def test_funnel_spec_applies_conditions_and_breakdown(capsys):
    _, out = run(
        ["funnel", FIXTURES / "events.jsonl", "--spec", FIXTURES / "funnel_spec.yml"], capsys
    )
    document = json.loads(out)
    assert [s["count"] for s in document["steps"]] == [2, 1]
    by_value = {tuple(b["value"]): [s["count"] for s in b["steps"]] for b in document["breakdown"]}
    assert by_value == {("firefox", "3"): [1, 1], ("chrome", ""): [1, 0]}


def test_funnel_flags_override_spec_window(capsys):
    _, out = run(
        [
            "funnel",
            FIXTURES / "events.jsonl",
            "--spec",
            FIXTURES / "funnel_spec.yml",
            "--window",
            "1m",
        ],
        capsys,
    )
    assert [s["count"] for s in json.loads(out)["steps"]] == [2, 0]


def test_funnel_day_first_format(capsys):
    _, out = run(
        [
            "funnel",
            FIXTURES / "day_first.csv",
            "--steps",
            "signed_up,clicked",
            "--timestamp-format",
            "%d/%m/%Y %H:%M",
        ],
        capsys,
    )
    assert json.loads(out)["steps"][1]["average_seconds_from_previous"] == 1800.0


def test_funnel_epoch_ms_and_na_case(capsys):
    _, out = run(
        ["funnel", FIXTURES / "epoch_ms_na.csv", "--steps", "signed_up,clicked", "--persons"],
        capsys,
    )
    steps = json.loads(out)["steps"]
    assert steps[0]["persons"] == ["N/A", "NA"]
    assert steps[1]["persons"] == ["NA"]


def test_funnel_mixed_offsets_order_events_by_instant(capsys):
    _, out = run(
        ["funnel", FIXTURES / "mixed_offsets.csv", "--steps", "signed_up,clicked", "--persons"],
        capsys,
    )
    steps = json.loads(out)["steps"]
    assert steps[1]["persons"] == ["p", "q"]
    assert steps[1]["average_seconds_from_previous"] == (900.0 + 0.0) / 2


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["funnel", FIXTURES / "bad_timestamp.csv", "--steps", "a"],
            "unparseable timestamp 'yesterday'",
        ),
        (["funnel", FIXTURES / "empty.csv", "--steps", "a"], "empty log"),
        (
            ["funnel", FIXTURES / "tabs.tsv", "--steps", "a", "--event-col", "name"],
            "unknown event or activity column 'name'",
        ),
        (["funnel", FIXTURES / "tabs.tsv", "--steps", "a,,b"], "--steps"),
        (["funnel", FIXTURES / "tabs.tsv", "--steps", "a", "--window", "2 weeks"], "--window"),
        (["funnel", FIXTURES / "tabs.tsv", "--spec", FIXTURES / "tabs.tsv"], "tabs.tsv:1: "),
        (["funnel", FIXTURES / "tabs.tsv", "--spec", FIXTURES / "nope.yml"], "cannot read spec"),
        (
            ["mine", FIXTURES / "tabs.tsv", "--out", "unused"],
            "unknown person or case id column 'case:concept:name'",
        ),
    ],
)
def test_bad_input_raises_a_one_line_message(argv, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parser().parse_args([str(a) for a in argv])
    with pytest.raises(ValueError, match=r".") as info:
        args.handler(args)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_spec_names_the_file_and_field(tmp_path):
    spec = tmp_path / "f.yml"
    spec.write_text("steps: [a]\norder: sideways\n")
    args = parser().parse_args(["funnel", str(FIXTURES / "tabs.tsv"), "--spec", str(spec)])
    with pytest.raises(ValueError, match=r"f\.yml: order: 'sideways' is not one of"):
        args.handler(args)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is installed by CI (.ci/run)")
def test_mine_writes_the_four_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    status, printed = run(["mine", DATASETS / "running-example.xes", "--out", out], capsys)
    assert status == 0
    assert "PM4Py" not in printed
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["cases"], summary["events"], summary["activities"], summary["variants"]) == (
        6,
        42,
        8,
        6,
    )
    assert summary["start_activities"] == {"register request": 6}
    with (out / "variants.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["count"]) for r in rows) == 6
    assert rows[0]["variant"].startswith("register request > ")
    with (out / "dfg.csv").open() as handle:
        assert next(csv.reader(handle)) == ["source", "target", "count", "median_seconds"]
    assert "<svg" in (out / "process_model.svg").read_text()


def test_cli_subprocess_prints_error_without_traceback(tmp_path):
    code = (
        "import argparse, sys\n"
        "from pipelines.analyst_commands import register\n"
        "p = argparse.ArgumentParser(prog='journey'); register(p.add_subparsers(dest='command'))\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "try:\n    sys.exit(a.handler(a))\n"
        "except Exception as e:\n    print(f'journey {a.command}: error: {e}'); sys.exit(1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "funnel", str(FIXTURES / "bad_timestamp.csv"), "--steps", "a"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("journey funnel: error: ")
    assert "Traceback" not in result.stderr
