"""The CPU section of BENCHMARKS.md, rendered from the benchmarks' result records.

The section sits between two HTML comments; everything outside them (the GPU section, any
prose) is left as it is. A document without the markers gets the section in place of an
older hand-written "## Metrics on CPU" section, or at its end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

BEGIN = ("<!-- cpu-benchmarks:begin — written by `make bench` from benchmarks/results/cpu/"
         "*.json; edit benchmarks/markdown_section.py, not this section -->")
END = "<!-- cpu-benchmarks:end -->"
_OLD_SECTION = re.compile(r"^## Metrics on CPU.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def render_section(records: Sequence[dict[str, Any]], suite: dict[str, Any] | None) -> str:
    """Markdown for the records (as written by harness.finish), in the given order."""
    if not records:
        return f"{BEGIN}\n## CPU benchmarks\n\nNot measured yet: run `make bench`.\n{END}\n"
    machine = records[0]["machine"]
    dates = sorted(r["date"] for r in records)
    lines = [BEGIN, f"## CPU benchmarks ({dates[-1][:10]})", ""]
    lines.append(
        f"Machine: {machine['cpu']}, {machine['usable_cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine['os']}; Python {machine['python']}, "
        f"numpy {machine['numpy']}. Dates {dates[0]} to {dates[-1]}. Each benchmark times "
        "ours and its baseline in the same run; the ratios are what to compare across "
        "machines.")
    if suite:
        lines += ["", f"Command: `{suite['command']}` ({suite['minutes']:.1f} min in all; load "
                      f"average {_load(suite['load_before'])} before, "
                      f"{_load(suite['load_after'])} after)."]
    lines += ["", "| what | target | measured | verdict |", "|---|---|---|---|"]
    for record in records:
        for target in record["targets"]:
            lines.append(f"| {record['title']} | {target['goal']} | "
                         f"{_number(target['measured'])}{target['unit']} | "
                         f"{_verdict(target)} |")
        for what, value in record.get("reported", []):
            lines.append(f"| {record['title']} | {what} | {value} | reported |")
    for record in records:
        lines += ["", *_details(record)]
    lines.append(END)
    return "\n".join(lines) + "\n"


def _details(record: dict[str, Any]) -> list[str]:
    lines = [f"### {record['title']}", "",
             f"`{record['command']}` — {record['date']}, load average "
             f"{_load(record['machine'].get('load_average'))} at the end, "
             f"{record['seconds']:.0f} s. {record['inputs']}.", ""]
    if record["table"]:
        columns = list(record["table"][0])
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in record["table"]:
            lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
        lines.append("")
    for target in record["targets"]:
        line = (f"- Target {target['goal']}: {_number(target['measured'])}{target['unit']}, "
                f"{_verdict(target)}.")
        if not target["met"] and target["why"]:
            line += f" Why: {target['why']}."
        lines.append(line)
    lines += [f"- {note[0].upper()}{note[1:]}." for note in record["notes"]]
    return lines


def _verdict(target: dict[str, Any]) -> str:
    return "**met**" if target["met"] else target["verdict"]


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _load(load: Sequence[float] | None) -> str:
    return "n/a" if not load else " / ".join(f"{v:.1f}" for v in load)


def replace_section(document: str, section: str) -> str:
    """``document`` with its CPU section replaced by ``section`` (see the module docstring)."""
    start, end = document.find(BEGIN), document.find(END)
    if start >= 0 and end > start:
        rest = document[end + len(END):].lstrip("\n")
        return document[:start] + section + ("\n" + rest if rest else "")
    if _OLD_SECTION.search(document):
        return _OLD_SECTION.sub(lambda _: section + "\n", document, count=1).rstrip("\n") + "\n"
    return document.rstrip("\n") + "\n\n" + section
