"""Write one benchmark's section of BENCHMARKS.md, leaving the others alone."""

from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(heading, section, path=BENCHMARKS_MD):
    """Replace the section that starts with ``heading`` (or append it).

    Parameters
    ----------
    heading : str
        The section's ``## `` heading line, without its newline.
    section : str
        The new section, heading included.
    path : Path, default=BENCHMARKS.md at the repository root
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        tail = text[end + 1:] if end >= 0 else ""
        text = text[:start] + section + ("\n" + tail if tail else "")
    path.write_text(text, encoding="utf-8")
