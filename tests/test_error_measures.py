"""How reconstruction errors are measured: plain, scaled per feature, chosen."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from aeids.calibration import cross_validated_f1, scaled_weights
from aeids.classifier import SCALED_MARGIN, AutoencoderClassifier
from aeids.exceptions import AeidsWarning, ConfigError
from aeids.features import FeatureEncoder
from aeids.io import load_table
from conftest import shared_file


def test_scaled_weights_known_answer():
    errors = np.array([[4.0, 0.0, 2.0], [1.0, 1.0, 1.0], [np.nan, np.nan, np.nan]])
    weights = scaled_weights(errors, floor=0.5)
    # Row 0: mean 2, floor 1; the exact feature weighs 1 / 1, not infinity.
    np.testing.assert_allclose(weights[0], [0.25, 1.0, 0.5])
    np.testing.assert_allclose(weights[1], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(weights[2], [1.0, 1.0, 1.0])


def test_cross_validated_f1_is_one_for_separated_classes():
    rng = np.random.default_rng(0)
    codes = np.repeat([0, 1, 2], 40)
    errors = rng.uniform(1.0, 2.0, (120, 3))
    errors[np.arange(120), codes] = rng.uniform(0.01, 0.02, 120)
    assert cross_validated_f1(errors, codes, "fitted") == 1.0
    # Errors that say nothing about the class give chance-level F1.
    noise = rng.uniform(1.0, 2.0, (120, 3))
    assert cross_validated_f1(noise, codes, "fitted") < 0.6


def test_unknown_error_measure_is_refused():
    X = np.random.default_rng(0).random((20, 4), dtype=np.float32)
    with pytest.raises(ConfigError, match="error must be one of"):
        AutoencoderClassifier(error="l1").fit(X, np.repeat(["a", "b"], 10))


@pytest.fixture(scope="module")
def cic():
    """The CIC-IDS2017 sample, encoded, as a stratified 70/30 split."""
    path = shared_file("cic-ids2017", "cic_ids2017_multiclass.csv.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AeidsWarning)
        table = load_table(path, profile="cic-ids2017")
        labels = table.labels.astype(str).to_numpy()
        train, test = train_test_split(np.arange(len(labels)), test_size=0.3,
                                       stratify=labels, random_state=0)
        encoder = FeatureEncoder().fit(table.features.iloc[train])
        return (encoder.transform(table.features.iloc[train]), labels[train],
                encoder.transform(table.features.iloc[test]), labels[test])


@pytest.fixture(scope="module")
def cic_models(cic):
    X_train, y_train, _, _ = cic
    models = {error: AutoencoderClassifier(error=error, calibration="fitted",
                                           max_epochs=30).fit(X_train, y_train)
              for error in ("auto", "mse", "scaled")}
    models["weighted"] = AutoencoderClassifier(max_epochs=30).fit(X_train, y_train)
    return models


def test_scaled_errors_are_weighted_member_errors(cic, cic_models):
    model = cic_models["scaled"]
    x = torch.from_numpy(cic[2][:300])
    errors = model.reconstruction_errors(cic[2][:300])
    with torch.no_grad():
        for k in range(len(model.classes_)):
            squared = (model.network_.member(k)(x) - x).pow(2).double().numpy()
            expected = (squared * model.feature_weights_[k]).mean(axis=1)
            np.testing.assert_allclose(errors[:, k], expected, rtol=1e-4)
    assert model.error_ == "scaled" and model.error_scores_ == {}
    assert np.all(cic_models["mse"].feature_weights_ == 1.0)


def test_auto_keeps_the_better_measure_on_validation_rows(cic, cic_models):
    _, _, X_test, y_test = cic
    auto = cic_models["auto"]
    assert set(auto.error_scores_) == {"mse", "scaled"}
    # Scaled errors are taken only when they win validation clearly.
    gain = auto.error_scores_["scaled"] - auto.error_scores_["mse"]
    assert auto.error_ == ("scaled" if gain > SCALED_MARGIN else "mse")

    # On this sample scaled errors measured test macro-F1 0.81 against 0.70.
    def f1(model):
        return f1_score(y_test, model.predict(X_test), average="macro")
    assert auto.error_ == "scaled"
    assert f1(cic_models["scaled"]) >= f1(cic_models["mse"]) + 0.05
    np.testing.assert_array_equal(auto.predict(X_test),
                                  cic_models["scaled"].predict(X_test))


def test_learned_feature_weights_start_from_the_chosen_measure(cic, cic_models):
    _, _, X_test, y_test = cic
    weighted, fitted = cic_models["weighted"], cic_models["auto"]
    assert weighted.calibration == "weighted"
    # The same networks and error choice; only the weights and the map differ.
    assert weighted.error_ == fitted.error_ == "scaled"
    np.testing.assert_array_equal(weighted.network_.weights[0].detach(),
                                  fitted.network_.weights[0].detach())
    assert not np.allclose(weighted.feature_weights_, fitted.feature_weights_)
    assert np.all(weighted.feature_weights_ > 0)

    # On this split the learned weights raise accuracy from 0.94 to 0.97.
    def accuracy(model):
        return np.mean(model.predict(X_test) == y_test)
    assert accuracy(weighted) >= accuracy(fitted) + 0.01
