"""How the analysis writes numbers, and the renderers every table goes through.

Each table is built once, as a DataFrame of display strings: two decimals (:data:`DECIMALS`,
the paper's), ``mean ± std``, a relative change ``(+1.2%)``, ``–`` (:data:`MISSING`) where
there is no value, and a best value of the paper's table marked bold the Markdown way,
``**84.00 ± 2.00**`` (:func:`bold`). A :class:`Document` puts such a table among the
paragraphs that explain it. Libraries then write the formats:

- Markdown: :func:`to_markdown`, ``DataFrame.to_markdown`` (tabulate's pipe tables);
- HTML: :func:`to_html`, a pandas ``Styler``'s ``to_html`` in a page with the document's
  paragraphs, for the Snakemake report, which shows HTML but not Markdown;
- LaTeX: :func:`to_latex`, a ``Styler``'s ``to_latex`` with booktabs rules (only the paper's
  table is written as LaTeX, by :mod:`weaklesion.analysis.paper_table`);
- CSV: :func:`to_csv`, of the numeric tables rather than their display strings.

The display strings are the same in every format; each renderer escapes what its format
needs, spells the bold marks its way (``**``, ``<b>``, ``\\textbf``), and LaTeX gets its own
spelling of ``±``, ``–``, the arrows and minus signs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
import pandas as pd
from pandas.io.formats.style import Styler

DECIMALS = 2  # the paper prints two decimals; "best" is decided on the printed values

MISSING = "–"
"""The cell of a value that does not exist (no run scored it, no std of a single seed…)."""


# --- numbers ------------------------------------------------------------------------------------


def number_text(value: float, *, signed: bool = True) -> str:
    """``value`` with :data:`DECIMALS` decimals, with its sign unless ``signed`` is False."""
    if math.isnan(value):
        return MISSING
    return f"{value:+.{DECIMALS}f}" if signed else f"{value:.{DECIMALS}f}"


def mean_std_text(mean: float, std: float) -> str:
    """``82.00 ± 2.00``; the mean alone where there is no std (a single seed)."""
    if math.isnan(mean):
        return MISSING
    text = number_text(mean, signed=False)
    return text if math.isnan(std) else f"{text} ± {number_text(std, signed=False)}"


def percent_text(fraction: float) -> str:
    """A fraction as a signed percentage with one decimal: 0.0512 → ``+5.1%``."""
    percent = round(fraction * 100, 1)
    return f"{percent + 0.0:+.1f}%"  # + 0.0 turns a rounded -0.0 into 0.0


def p_value_text(p: float) -> str:
    """Three decimals, ``< 0.001`` below that."""
    if math.isnan(p):
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def bold(text: str) -> str:
    """``text`` marked bold in a display string (Markdown's mark; the other renderers turn it
    into their own)."""
    return f"**{text}**"


_BOLD = re.compile(r"\*\*(.+?)\*\*")


# --- documents ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """What one Markdown file and its HTML page show, top to bottom: ``intro`` paragraphs, a
    list of ``bullets``, the ``table`` of display strings (None: nothing to tabulate), and
    ``notes`` paragraphs.

    ``names`` are the table's columns of names taken from folders or the config (datasets,
    models), shown verbatim; the other cells are this package's display strings, which may
    carry :func:`bold` marks. ``right_aligned`` are the columns of numbers.
    """

    title: str
    intro: Sequence[str] = ()
    bullets: Sequence[str] = ()
    table: pd.DataFrame | None = None
    notes: Sequence[str] = ()
    names: Sequence[str] = ()
    right_aligned: Sequence[str] = ()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _markdown_escape(text: str) -> str:
    """``text`` shown literally in Markdown (tabulate escapes nothing)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def to_markdown(document: Document) -> str:
    """The document as GitHub Markdown, its table written by ``DataFrame.to_markdown``."""
    blocks = list(document.intro)
    if document.bullets:
        blocks.append("\n".join(f"- {bullet}" for bullet in document.bullets))
    if document.table is not None:
        table = document.table.copy()
        for column in document.names:
            table[column] = table[column].map(_markdown_escape)
        align = ["right" if column in document.right_aligned else "left" for column in table]
        # disable_numparse: the cells are final text; tabulate would reprint "0.250" as 0.25.
        blocks.append(table.to_markdown(index=False, colalign=align, disable_numparse=True))
    blocks += document.notes
    return "\n\n".join(blocks) + "\n"


# The page around a document's table: the report shows each HTML file on a page of its own.
_PAGE = jinja2.Environment(
    autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; }
td, th { padding: 3px 8px; border-bottom: 1px solid #ddd; }
th { text-align: left; border-bottom: 2px solid #444; }
</style>
</head>
<body>
{% for paragraph in intro %}<p>{{ paragraph }}</p>
{% endfor %}
{% if bullets %}<ul>
{% for bullet in bullets %}<li>{{ bullet }}</li>
{% endfor %}</ul>
{% endif %}
{{ table | safe }}
{% for paragraph in notes %}<p>{{ paragraph }}</p>
{% endfor %}
</body>
</html>
""")


def to_html(document: Document) -> str:
    """The document as a self-contained HTML page, its table written by ``Styler.to_html``
    (bold marks as ``<b>``, numbers right-aligned)."""
    table = ""
    if document.table is not None:
        # A fixed uuid keeps the page the same from one run to the next.
        styler = Styler(document.table, uuid="table", cell_ids=False).hide(axis="index")
        styler.format(escape="html").format_index(escape="html", axis="columns")
        styler.format(_html_cell, escape="html",
                      subset=[c for c in document.table if c not in document.names])
        styler.set_table_styles(
            {column: [{"selector": "td", "props": "text-align: right"}]
             for column in document.right_aligned}, overwrite=False)
        table = styler.to_html()
    return _PAGE.render(title=document.title, intro=document.intro, bullets=document.bullets,
                        table=table, notes=document.notes)


def _html_cell(escaped: str) -> str:
    # str(): the escaped text is a markupsafe.Markup, whose substitutions would escape <b> too.
    return _BOLD.sub(r"<b>\1</b>", str(escaped))


# --- LaTeX --------------------------------------------------------------------------------------

_LATEX_SYMBOLS = str.maketrans({"±": r"$\pm$", "–": "--", "-": "$-$", "↑": r"$\uparrow$",
                                "↓": r"$\downarrow$"})


def _latex_cell(escaped: str) -> str:
    """A display string already escaped for LaTeX, in LaTeX's spelling: ``$\\pm$``, ``--``
    for the missing value's dash, a typeset minus ``$-$``, arrows in math mode, bold marks as
    ``\\textbf``. For the cells of numbers and the headers, not for names (whose hyphens are
    hyphens)."""
    return _BOLD.sub(r"\\textbf{\1}", escaped.translate(_LATEX_SYMBOLS))


def to_latex(table: pd.DataFrame, *, names: Sequence[str], column_format: str, caption: str,
             label: str, rules_above: Sequence[int] = ()) -> str:
    """A booktabs ``table`` float (``\\usepackage{booktabs}``) written by ``Styler.to_latex``.

    Every cell is escaped; the headers and the cells outside the ``names`` columns are also
    spelt the LaTeX way (``$\\pm$``, ``--``, ``$-$``, ``\\textbf``). ``caption`` is LaTeX
    already. ``rules_above`` are the positions of the rows that open a block, which a
    ``\\midrule`` separates from the block above; ``\\small`` sets the table in small type.
    """
    styler = Styler(table, uuid="table").hide(axis="index")
    styler.format(escape="latex").format_index(_latex_cell, escape="latex", axis="columns")
    styler.format(_latex_cell, escape="latex", subset=[c for c in table if c not in names])
    styler.set_table_styles([{"selector": "small", "props": ":;"}], overwrite=False)  # \small
    if len(rules_above) and len(table.columns):
        # Styler rules off only the header and the bottom; a rule command opening a block's
        # first cell stands at the start of that row, where booktabs' \midrule belongs.
        styler.map(lambda _: "midrule: ;",
                   subset=pd.IndexSlice[table.index[list(rules_above)], table.columns[:1]])
    return styler.to_latex(hrules=True, column_format=column_format, position="htbp",
                           position_float="centering", caption=caption, label=label)


def to_csv(table: pd.DataFrame) -> str:
    """A numeric table as CSV, one row per line, NaN as an empty field."""
    return table.to_csv(index=False, lineterminator="\n")
