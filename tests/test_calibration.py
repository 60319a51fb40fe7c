"""ErrorCalibrator: monotone per class, robust to tiny classes, round-trips."""

import warnings

import numpy as np
import pytest
import torch

from aeids.calibration import (
    METHODS,
    ErrorCalibrator,
    fit_feature_weights,
    sample_rows,
)
from aeids.exceptions import ConfigError


def validation_errors(rng, sizes, scales):
    """Errors of K models on validation rows: model k fits class k best."""
    errors, codes = [], []
    for k, (size, scale) in enumerate(zip(sizes, scales)):
        block = rng.lognormal(np.log(scale) + 1.0, 0.3, (size, len(sizes)))
        block[:, k] = rng.lognormal(np.log(scale), 0.3, size)
        errors.append(block)
        codes.append(np.full(size, k))
    return np.concatenate(errors), np.concatenate(codes)


def fit(method, errors, codes):
    own = [errors[codes == k, k] for k in range(errors.shape[1])]
    return ErrorCalibrator(method).fit(own, errors, codes)


@pytest.mark.parametrize("method", METHODS)
def test_scores_rise_with_error_within_every_class(method):
    rng = np.random.default_rng(0)
    errors, codes = validation_errors(rng, [200, 150, 40], [0.01, 0.1, 1.0])
    calibrator = fit(method, errors, codes)
    grid = np.geomspace(1e-6, 10, 50)
    scores = calibrator.transform(np.repeat(grid[:, None], 3, axis=1))
    assert np.all(np.diff(scores, axis=0) > 0)


def test_fitted_calibration_assigns_rows_to_their_own_class():
    rng = np.random.default_rng(1)
    errors, codes = validation_errors(rng, [300, 300, 300], [0.001, 0.05, 2.0])
    test, test_codes = validation_errors(rng, [300, 300, 300], [0.001, 0.05, 2.0])
    fitted = fit("fitted", errors, codes).transform(test).argmin(axis=1)
    assert (fitted == test_codes).mean() > 0.9


def test_tiny_class_does_not_swallow_the_others():
    rng = np.random.default_rng(2)
    errors, codes = validation_errors(rng, [500, 500], [0.1, 0.1])
    # A third model that reconstructs everything a little better than the
    # others, with its own class down to 2 validation rows of tiny error.
    third = np.concatenate([errors.min(axis=1) * 0.9, [1e-6, 2e-6]])
    errors = np.column_stack([np.vstack([errors, np.full((2, 2), 1.0)]), third])
    codes = np.concatenate([codes, [2, 2]])
    test, test_codes = validation_errors(rng, [500, 500], [0.1, 0.1])
    test = np.column_stack([test, test.min(axis=1) * 0.9])
    predicted = fit("fitted", errors, codes).transform(test).argmin(axis=1)
    assert (predicted == 2).mean() < 0.05
    assert (predicted == test_codes).mean() > 0.9


def test_one_validation_row_per_class_gives_finite_scores():
    # No class has the two rows a spread needs: the spread comes from the
    # rows pooled over classes, silently and without NaN.
    rng = np.random.default_rng(3)
    errors, codes = validation_errors(rng, [1, 1, 1], [0.1, 0.2, 0.4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrator = fit("fitted", errors, codes)
    pooled = np.log(np.diag(errors) + 1e-12)
    spread = 1.4826 * np.median(np.abs(pooled - np.median(pooled)))
    assert np.allclose(calibrator.scale_, spread)
    assert np.isfinite(calibrator.transform(errors)).all()


def test_state_round_trips_to_identical_scores():
    rng = np.random.default_rng(3)
    errors, codes = validation_errors(rng, [100, 80], [0.02, 0.3])
    calibrator = fit("fitted", errors, codes)
    again = ErrorCalibrator.from_state(calibrator.to_state())
    np.testing.assert_array_equal(again.transform(errors), calibrator.transform(errors))


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError,
                       match="calibration must be one of weighted, fitted, raw"):
        ErrorCalibrator("zscore")


def test_fitted_needs_every_models_errors():
    with pytest.raises(ConfigError, match="needs the errors of every model"):
        ErrorCalibrator("fitted").fit([np.ones(3), np.ones(3)])


def test_learned_weights_find_the_feature_that_tells_classes_apart():
    # Feature 0 is reconstructed well by the row's own model only; features
    # 1-5 are noise that dilutes it in a plain mean.
    rng = np.random.default_rng(0)
    codes = np.repeat([0, 1], 200)
    squared = rng.uniform(0.0, 4.0, (2, 400, 6))
    own = codes == np.arange(2)[:, None]
    squared[:, :, 0] = np.where(own, 0.5, 1.5)
    weights = fit_feature_weights(torch.tensor(squared, dtype=torch.float32),
                                  codes, np.ones((2, 6)))
    # Telling two classes apart needs one sharp model: at least one class's
    # error comes to listen mostly to feature 0.
    emphasis = weights[:, 0] / weights[:, 1:].mean(axis=1)
    assert emphasis.max() > 5 and emphasis.min() > 1

    def accuracy(w):
        errors = np.einsum("knf,kf->nk", squared, w) / 6
        own_errors = [errors[codes == k, k] for k in range(2)]
        calibrator = ErrorCalibrator("fitted").fit(own_errors, errors, codes)
        return np.mean(calibrator.transform(errors).argmin(axis=1) == codes)
    assert accuracy(weights) > 0.95
    assert accuracy(np.ones((2, 6))) < 0.7


def test_sample_rows_keeps_small_classes_whole():
    codes = np.repeat([2, 0, 1], [100, 2, 10])
    rows, weight = sample_rows(codes, budget=30)
    # Quota 18 for the largest class: 2 + 10 + 18 rows.
    assert len(rows) == 30 and len(np.unique(rows)) == 30
    assert np.all(np.diff(rows) > 0)
    kept = codes[rows]
    assert np.bincount(kept).tolist() == [2, 10, 18]
    np.testing.assert_allclose(weight[kept == 2], 100 / 18)
    np.testing.assert_allclose(weight[kept != 2], 1.0)
    assert weight.sum() == pytest.approx(len(codes))
    # Within the budget every row is kept with weight 1.
    rows, weight = sample_rows(codes, budget=112)
    assert rows.tolist() == list(range(112)) and np.all(weight == 1.0)
