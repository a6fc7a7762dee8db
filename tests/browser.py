"""Render an HTML page in headless Chromium and read what a user would see."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=20000",
)
# Clicks on elements by their visible text, so a test can navigate a single-page app.
_CLICKER = """<script>
(function () {
  const steps = %s;
  function click(label) {
    const hits = [...document.querySelectorAll('a,button,li,span,div,p,td')]
      .filter(e => e.children.length === 0 && e.textContent.trim() === label);
    if (hits.length) { hits[0].click(); }
  }
  steps.forEach((label, i) => setTimeout(() => click(label), 800 * (i + 1)));
})();
</script>"""


def chromium() -> str:
    """Path of the browser; fails (CI) or skips (a laptop without it) when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Chromium is not installed (tools/install_chromium.sh installs it)"
    if os.environ.get("WEAKLESION_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def visible_text(page: Path, clicks: list[str], profile: Path) -> str:
    """The page's text after JavaScript ran and ``clicks`` were made, scripts and styles
    removed. The clicks are injected into a copy of the page, which stays self-contained."""
    html = page.read_text()
    end = html.rindex("</body>")
    clicked = page.with_name(f"{page.stem}.clicked.html")
    clicked.write_text(html[:end] + _CLICKER % json.dumps(clicks) + html[end:])
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
         clicked.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", result.stdout, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def screenshot(page: Path, out: Path, profile: Path) -> Path:
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
         "--window-size=1280,900", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
    return out
