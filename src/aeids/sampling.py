"""Oversampling of rare classes with SMOTE, adapted to very small classes."""

import warnings

import numpy as np
from imblearn.over_sampling import SMOTE

from .exceptions import DataWarning

DEFAULT_NEIGHBOURS = 5


def smote(X, codes, classes, random_state=0, k_neighbors=DEFAULT_NEIGHBOURS):
    """Oversample every minority class up to the majority class's size.

    SMOTE needs ``k_neighbors + 1`` rows of a class. The neighbour count is
    lowered to what the smallest oversampled class allows; classes with a
    single row cannot be interpolated and are left as they are. Both
    adaptations are reported with a :class:`~aeids.exceptions.DataWarning`
    naming the classes and their row counts.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training rows only: never oversample held-out rows.
    codes : ndarray of shape (n_samples,)
        Integer class codes.
    classes : ndarray
        Class labels, for messages.
    random_state : int, default=0
    k_neighbors : int, default=5

    Returns
    -------
    X_resampled, codes_resampled : ndarrays
    """
    counts = np.bincount(codes, minlength=len(classes))
    target = counts.max()
    skipped = [k for k, n in enumerate(counts) if n < 2]
    grown = [k for k, n in enumerate(counts) if 2 <= n < target]
    if skipped:
        names = ", ".join(f"{classes[k]!r} ({counts[k]} row)" for k in skipped)
        warnings.warn(
            f"SMOTE skipped classes with a single training row: {names}.",
            DataWarning,
            stacklevel=3,
        )
    if not grown:
        return X, codes
    smallest = min(counts[k] for k in grown)
    neighbours = min(k_neighbors, smallest - 1)
    if neighbours < k_neighbors:
        names = ", ".join(
            f"{classes[k]!r} ({counts[k]} rows)" for k in grown
            if counts[k] <= k_neighbors
        )
        warnings.warn(
            f"SMOTE uses {neighbours} neighbour(s) instead of {k_neighbors} "
            f"because of small classes: {names}.",
            DataWarning,
            stacklevel=3,
        )
    strategy = {k: int(target) for k in grown}
    sampler = SMOTE(sampling_strategy=strategy, k_neighbors=neighbours,
                    random_state=random_state)
    X_res, codes_res = sampler.fit_resample(X, codes)
    return X_res.astype(np.float32), codes_res
