import subprocess
import sys


def test_importing_journey_mining_imports_neither_dagster_nor_pipelines():
    code = (
        "import sys, journey_mining, journey_mining.journey_model, journey_mining.demo, "
        "journey_mining.sources\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'dagster', 'pipelines', "
        "'dagster_dbt', 'pm4py'})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
