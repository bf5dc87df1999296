"""The page in a real browser: headless Chromium runs the inline script and shows the view the
URL hash asks for."""

import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from journey_mining.journey_map.document import build_journey_maps
from journey_mining.journey_map.html import render_html
from tests.journey_mining.journey_map.conftest import JOURNEY

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(url: str, tmp_path) -> str:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--window-size=1440,2000",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def _visible(dom: str) -> list[tuple[str, str]]:
    views = re.findall(r"<section ([^>]*)>", dom)
    shown = []
    for attributes in views:
        if re.search(r"\bhidden\b", attributes):
            continue
        persona = re.search(r'data-persona="([^"]+)"', attributes)
        period = re.search(r'data-period="([^"]+)"', attributes)
        assert persona
        assert period
        shown.append((persona.group(1), period.group(1)))
    return shown


@pytest.fixture
def page(two_periods, tmp_path):
    with two_periods.connect(read_only=True) as con:
        stamp = datetime(2026, 3, 1, tzinfo=UTC)
        documents = [
            *build_journey_maps(con, JOURNEY, "2026-02", generated_at=stamp),
            *build_journey_maps(con, JOURNEY, "2026-01", generated_at=stamp),
        ]
    path = tmp_path / "journey_map.html"
    path.write_text(render_html(documents), encoding="utf-8")
    return path


def test_the_persona_switcher_shows_the_view_the_hash_names(page, tmp_path):
    dom = _dump_dom(f"{page.as_uri()}#persona=solo&period=2026-01", tmp_path)
    assert _visible(dom) == [("solo", "2026-01")]
    assert re.search(r'<body[^>]*data-persona="solo"', dom)
    assert re.search(r'<body[^>]*data-period="2026-01"', dom)
    assert re.search(r'<p id="no-view"[^>]*hidden', dom)


def test_without_a_hash_the_page_opens_on_all_personas_in_the_latest_period(page, tmp_path):
    dom = _dump_dom(page.as_uri(), tmp_path)
    assert _visible(dom) == [("all", "2026-02")]
    assert re.search(r'<body[^>]*data-persona="all"', dom)
