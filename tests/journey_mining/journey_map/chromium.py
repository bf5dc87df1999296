"""Headless Chromium as a test instrument: the DOM after scripts ran, console messages, the
network requests the page itself made, and a screenshot.

Chromium's own background traffic (update checks, time sync) is told apart from the page's by
the network isolation key: requests a ``file://`` page makes carry ``file://`` in it.

``python -m tests.journey_mining.journey_map.chromium MAP.html OUT.png [#hash]`` makes the
README's screenshot the same way the browser tests do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET = (
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


@dataclass(frozen=True)
class PageRun:
    """What one page load in Chromium produced."""

    dom: str
    console: list[str]
    page_requests: list[str]
    screenshot: Path | None


def open_page(url: str, workdir: Path, *, width: int = 1440, height: int = 2000) -> PageRun:
    """Load ``url`` twice (DOM dump, then screenshot), logging console and network."""
    if CHROMIUM is None:
        msg = "headless Chromium is not installed (apt-get install chromium)"
        raise FileNotFoundError(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    common = [
        CHROMIUM,
        *QUIET,
        f"--window-size={width},{height}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    netlog = workdir / "netlog.json"
    dump = subprocess.run(
        [
            *common,
            f"--user-data-dir={workdir / 'profile-dom'}",
            f"--log-net-log={netlog}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    png = workdir / "screenshot.png"
    shot = subprocess.run(
        [*common, f"--user-data-dir={workdir / 'profile-shot'}", f"--screenshot={png}", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    console = [
        line
        for line in (dump.stderr + shot.stderr).splitlines()
        if ":CONSOLE" in line or "Uncaught" in line
    ]
    return PageRun(dump.stdout, console, _page_requests(netlog), png if png.exists() else None)


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page requested over the network (not file://, not the browser's own)."""
    events = json.loads(netlog.read_text()).get("events", [])
    urls = set()
    for event in events:
        params = event.get("params") or {}
        url = params.get("url", "")
        if (
            url
            and not url.startswith(("file:", "data:"))
            and "file://" in str(params.get("network_isolation_key", ""))
        ):
            urls.add(url)
    return sorted(urls)


def visible_text(dom: str, persona: str) -> str:
    """The text of the visible view for ``persona`` (hidden views are skipped)."""
    for match in re.finditer(r"<section ([^>]*)>(.*?)</section>", dom, flags=re.DOTALL):
        attributes, body = match.groups()
        if f'data-persona="{persona}"' in attributes and not re.search(r"\bhidden\b", attributes):
            return re.sub(r"<[^>]+>", " ", body)
    return ""


if __name__ == "__main__":
    page, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    fragment = sys.argv[3] if len(sys.argv) > 3 else ""
    with tempfile.TemporaryDirectory() as tmp:
        run = open_page(page.as_uri() + fragment, Path(tmp), height=1800)
        assert run.screenshot is not None
        shutil.copyfile(run.screenshot, out)
    print(f"{out}: console messages {len(run.console)}, page requests {len(run.page_requests)}")
