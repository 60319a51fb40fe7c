"""Writing report files atomically."""

import os
import uuid
from pathlib import Path


def write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written report, and a failure leaves any
    previous file at ``path`` as it was.

    Parameters
    ----------
    path : str or Path
    text : str

    Returns
    -------
    Path
    """
    path = Path(path)
    staging = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(staging, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
