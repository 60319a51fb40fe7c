"""Reports on a model's evaluation: data first, then text, Markdown or HTML.

:func:`build_report` computes everything a report shows as a JSON-able dict;
:func:`render_html` (figures embedded) and :func:`render_markdown` format it.
Figures come from :mod:`aeids.report.plots`, imported only when HTML is
rendered, so that matplotlib stays unloaded otherwise.
:func:`format_report` renders the plain metrics dict of
:func:`aeids.evaluate_model` for the terminal.
"""

from .data import build_report
from .files import write_text
from .html import render_html
from .markdown import render_markdown
from .text import format_explanations, format_report

__all__ = [
    "build_report",
    "format_explanations",
    "format_report",
    "render_html",
    "render_markdown",
    "write_text",
]
