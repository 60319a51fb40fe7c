"""A report as Markdown: the same tables as the HTML report, without figures."""

from .sections import report_sections


def render_markdown(data):
    """Render a report's tables as GitHub-flavoured Markdown.

    Parameters
    ----------
    data : dict
        From :func:`aeids.report.build_report`.

    Returns
    -------
    str
    """
    kind = "anomaly detector" if data["kind"] == "detector" else "classifier"
    lines = [f"# aeids {kind} report", "",
             f"- evaluated file: `{data['source']}`"]
    if data.get("model_path"):
        lines.append(f"- model: `{data['model_path']}`")
    lines += [f"- created: {data['created']}", ""]
    for section in report_sections(data):
        lines += [f"## {section['title']}", ""]
        for table in section["tables"]:
            lines += _table(table) + [""]
        if section["id"] == "loading":
            lines += ["```", *section["notes"], "```", ""]
        else:
            lines += [note + "\n" for note in section["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def _table(table):
    def row(cells):
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"

    align = ["---"] + ["---:"] * (len(table["header"]) - 1)
    return [row(table["header"]), "| " + " | ".join(align) + " |",
            *(row(cells) for cells in table["rows"])]


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")
