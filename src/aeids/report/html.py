"""A report as one self-contained HTML file, figures embedded as PNG."""

import base64
from html import escape

from .sections import report_sections

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em;
     border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 0.8em 0; }
pre { background: #f7f7f7; padding: 0.6em; font-size: 0.85em; overflow-x: auto; }
.meta { color: #555; font-size: 0.9em; }
"""


def render_html(data, figures=None):
    """Render a report as a standalone HTML page.

    Parameters
    ----------
    data : dict
        From :func:`aeids.report.build_report`.
    figures : dict or None
        Figure name -> PNG bytes; drawn from ``data`` when None.

    Returns
    -------
    str
        An HTML document that needs no other file: every figure is an
        ``<img>`` with a base64 ``data:`` URI.
    """
    if figures is None:
        from .plots import report_figures

        figures = report_figures(data)
    kind = "anomaly detector" if data["kind"] == "detector" else "classifier"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>aeids report: {escape(data['source'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>aeids {kind} report</h1>",
        '<p class="meta">',
        f"evaluated file: <code>{escape(data['source'])}</code><br>",
    ]
    if data.get("model_path"):
        parts.append(f"model: <code>{escape(data['model_path'])}</code><br>")
    parts.append(f"created: {escape(data['created'])}</p>")
    for section in report_sections(data):
        parts.append(_section(section, figures))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _section(section, figures):
    parts = [f'<section id="{section["id"]}">',
             f"<h2>{escape(section['title'])}</h2>"]
    for table in section["tables"]:
        parts.append(_table(table))
    for name in section["figures"]:
        if name in figures:
            encoded = base64.b64encode(figures[name]).decode("ascii")
            parts.append(f'<img id="figure-{name}" alt="{name.replace("_", " ")}" '
                         f'src="data:image/png;base64,{encoded}">')
    if section["id"] == "loading" and section["notes"]:
        parts.append(f"<pre>{escape(chr(10).join(section['notes']))}</pre>")
    else:
        parts += [f"<p>{escape(note)}</p>" for note in section["notes"]]
    parts.append("</section>")
    return "\n".join(parts)


def _table(table):
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table["header"])
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table["rows"]
    )
    caption = f"<caption>{escape(table['caption'])}</caption>" if table[
        "caption"] else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n" \
           f"</tbody></table>"
