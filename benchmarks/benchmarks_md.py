"""What every benchmark shares: its section of BENCHMARKS.md, the machine's name."""

import platform
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


def cpu_model():
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def memory_gib():
    """Total memory in GiB, from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            return int(handle.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return None
