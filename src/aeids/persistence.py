"""The model directory: weights as safetensors, everything else as JSON.

A model directory holds::

    model.json            kind, format version, estimator parameters and
                          learned state (classes, calibration, thresholds,
                          training history), library versions
    preprocessing.json    how to read files (label, profile, drops) and the
                          fitted feature encoder
    metadata.json         loading summary and training report
    weights.safetensors   the network's tensors

Loading parses JSON and safetensors only, so a model directory never executes
code; anything missing, truncated or inconsistent raises
:class:`~aeids.exceptions.ModelFormatError` naming the file. Saving writes a
temporary directory beside the target and renames it into place, so a crash
leaves any previous model intact.
"""

import json
import math
import os
import platform
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .exceptions import AeidsError, ModelFormatError
from .features import FeatureEncoder

FORMAT = "aeids-model"
FORMAT_VERSION = 2
FILES = ("model.json", "preprocessing.json", "metadata.json", "weights.safetensors")
_PACKAGES = ("aeids", "torch", "numpy", "pandas", "scikit-learn", "safetensors")


@dataclass
class TrafficModel:
    """A fitted estimator with the preprocessing that feeds it.

    Attributes
    ----------
    encoder : FeatureEncoder
        Fitted on the training rows.
    estimator : AutoencoderClassifier or AutoencoderDetector
        Fitted on the encoded training rows.
    loading : dict
        Options to read new files the way the training file was read
        (``label``, ``profile``, ``drop``, ...).
    metadata : dict
        Loading summary, training report and anything else worth keeping.
    """

    encoder: FeatureEncoder
    estimator: object
    loading: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def kind(self):
        """``"classifier"`` or ``"detector"``."""
        return self.estimator._model_kind

    def transform(self, features):
        """Encode a table of records into the estimator's input matrix."""
        return self.encoder.transform(features)


def library_versions():
    """Versions of Python and the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def save_model(model, path):
    """Write ``model`` to the directory ``path``, atomically.

    Parameters
    ----------
    model : TrafficModel
    path : str or Path
        Created if absent; an existing aeids model there is replaced only
        once the new one is completely written. A non-empty directory that is
        not an aeids model is refused.

    Returns
    -------
    Path
        The model directory.
    """
    path = check_model_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _write(model, staging)
        _swap_into_place(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def check_model_path(path):
    """Refuse, before any work, a path :func:`save_model` would not write to.

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.exists() and not _is_model_dir(path):
        raise AeidsError(
            f"{path} exists and is not an aeids model directory; choose a new "
            f"path or remove it first."
        )
    return path


def load_model(path):
    """Read a model directory written by :func:`save_model`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    TrafficModel
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelFormatError(f"{path} is not a model directory.")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise ModelFormatError(
            f"{path} is not a complete aeids model: {', '.join(missing)} missing."
        )
    config = _read_json(path / "model.json")
    if config.get("format") != FORMAT:
        raise ModelFormatError(f"{path / 'model.json'} is not an aeids model file.")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path / 'model.json'} has format version "
            f"{config.get('format_version')!r}; this aeids reads {FORMAT_VERSION}."
        )
    preprocessing = _read_json(path / "preprocessing.json")
    metadata = _read_json(path / "metadata.json")
    try:
        tensors = load_file(path / "weights.safetensors")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(
            f"{path / 'weights.safetensors'} cannot be read: {exc}."
        ) from None
    estimator_class = _estimator_class(config.get("kind"), path)
    try:
        encoder = FeatureEncoder.from_state(preprocessing["encoder"])
        estimator = estimator_class._from_state(config, tensors)
        loading = dict(preprocessing["loading"])
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise ModelFormatError(
            f"{path} holds an inconsistent or edited model "
            f"({type(exc).__name__}: {exc}); retrain it or restore a saved copy."
        ) from None
    if encoder.feature_names_out_ and len(encoder.feature_names_out_) != (
        estimator.n_features_in_
    ):
        raise ModelFormatError(
            f"{path}: the preprocessing gives {len(encoder.feature_names_out_)} "
            f"features but the network reads {estimator.n_features_in_}."
        )
    return TrafficModel(encoder, estimator, loading, metadata)


def _write(model, folder):
    config, tensors = model.estimator._to_state()
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        **config,
    }
    preprocessing = {"loading": model.loading, "encoder": model.encoder.to_state()}
    _write_json(folder / "model.json", config)
    _write_json(folder / "preprocessing.json", preprocessing)
    _write_json(folder / "metadata.json", model.metadata)
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    save_file(tensors, folder / "weights.safetensors")
    _fsync(folder / "weights.safetensors")


def _swap_into_place(staging, path):
    if not path.exists():
        os.replace(staging, path)
        return
    retired = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(path, retired)
    try:
        os.replace(staging, path)
    except OSError:
        os.replace(retired, path)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _is_model_dir(path):
    return path.is_dir() and (
        not any(path.iterdir()) or (path / "model.json").is_file()
    )


def _estimator_class(kind, path):
    from .classifier import AutoencoderClassifier

    classes = {"classifier": AutoencoderClassifier}
    try:
        from .detector import AutoencoderDetector
    except ImportError:
        pass
    else:
        classes["detector"] = AutoencoderDetector
    if kind not in classes:
        raise ModelFormatError(
            f"{path / 'model.json'} names an unknown model kind {kind!r}."
        )
    return classes[kind]


def _write_json(path, payload):
    text = json.dumps(_finite(payload), indent=1, allow_nan=False,
                      default=_jsonable)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _finite(value):
    # JSON has no NaN or infinity: an undefined number (a loss never
    # measured, a metric without both classes) is stored as null.
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path} cannot be read as JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise ModelFormatError(f"{path} does not hold a JSON object.")
    return payload


def _fsync(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
