"""Errors and warnings raised by aeids.

Every error aeids raises on purpose derives from :class:`AeidsError`, which is
also a :class:`ValueError`, so callers can catch either. Recoverable input
problems are reported with subclasses of :class:`AeidsWarning`.
"""

import os
import sys
from pathlib import Path

import sklearn
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

_INTERNAL = tuple(str(Path(module).parent) + os.sep
                  for module in (__file__, sklearn.__file__))


class AeidsError(ValueError):
    """Base class of every error aeids raises about input, models or options."""


class DataError(AeidsError):
    """A data file cannot be read or holds values aeids cannot use.

    The message names the file and, where they apply, the column, the line
    (1-based, as an editor shows it) and the offending value; the same facts
    are kept as attributes for programs.
    """

    def __init__(self, message, *, path=None, column=None, line=None, value=None):
        super().__init__(message)
        self.path = path
        self.column = column
        self.line = line
        self.value = value


class ConfigError(AeidsError):
    """An option, profile or architecture is invalid for the data at hand."""


class ModelFormatError(AeidsError):
    """A model directory is missing, truncated, edited or otherwise unusable."""


class TrainingError(AeidsError):
    """Training cannot proceed, for example after a non-finite loss."""


class NotFittedError(AeidsError, _SklearnNotFittedError):
    """An estimator was used before ``fit``."""


class AeidsWarning(UserWarning):
    """Base class of the warnings aeids emits for recoverable input."""


class DataWarning(AeidsWarning):
    """Input was repaired or partly ignored; the message says what was done."""


class UnseenCategoryWarning(DataWarning):
    """Categorical values absent from the training data were encoded as zeros."""


def listing(items, limit=20, render=repr):
    """``"a, b and 3 more"``: at most ``limit`` items of a message, then a count."""
    items = list(items)
    shown = ", ".join(render(item) for item in items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def caller_stacklevel():
    """``stacklevel`` for :func:`warnings.warn` that points at the caller's code.

    Counted from the function that warns, up to the first frame outside aeids
    and scikit-learn (whose output wrappers sit between a transformer's
    ``transform`` and its caller).
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level
