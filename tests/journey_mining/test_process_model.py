import contextlib
import io
import shutil
import subprocess
import sys

import pytest

from journey_mining.eventlog import read_event_log
from journey_mining.metrics.paths import Variant, variants
from journey_mining.process_model import ProcessModelError, discover_petri_net, render_process_model
from tests.conftest import SHARED_DATASETS

XES = {
    "case_col": "concept:name",
    "activity_col": "concept:name",
    "timestamp_col": "time:timestamp",
}


@pytest.fixture(scope="module")
def running_example():
    return read_event_log(SHARED_DATASETS / "running-example.xes", **XES)


def test_model_from_variants_equals_inductive_miner_on_the_whole_log(running_example):
    log = running_example
    model = discover_petri_net(variants(log.con, table=log.table))
    with contextlib.redirect_stdout(io.StringIO()):
        import pm4py  # noqa: PLC0415
    frame = log.con.execute(
        f"select person_key, event, ts from {log.table} order by person_key, ts, activity_seq"
    ).df()
    frame["event"] = frame["event"].astype(object)
    frame["person_key"] = frame["person_key"].astype(object)
    net, _, _ = pm4py.discover_petri_net_inductive(
        frame, case_id_key="person_key", activity_key="event", timestamp_key="ts"
    )
    assert model.activities == {t.label for t in net.transitions if t.label}
    assert len(model.net.places) == len(net.places)
    assert len(model.net.transitions) == len(net.transitions)
    assert len(model.net.arcs) == len(net.arcs)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is installed by CI (.ci/run)")
def test_render_writes_an_svg(tmp_path, running_example):
    log = running_example
    path = render_process_model(
        discover_petri_net(variants(log.con, table=log.table)), tmp_path / "m.svg"
    )
    text = path.read_text()
    assert "<svg" in text
    assert "register request" in text


def test_no_variants_is_an_error():
    with pytest.raises(ProcessModelError, match="no variants"):
        discover_petri_net([])


def test_importing_the_sql_core_does_not_import_pm4py():
    code = (
        "import sys, journey_mining.eventlog, journey_mining.metrics.funnel, "
        "journey_mining.metrics.paths, journey_mining.process_model\n"
        "print('pm4py' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_variant_label_joins_activities():
    assert Variant(("a", "b"), 1, 1.0).label == "a > b"
