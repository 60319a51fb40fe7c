"""The training loop of an :class:`~aeids.network.AutoencoderStack`.

All K autoencoders step together. At every step each class draws its own
batch from its own shuffled stream of training rows, so the K batches are
equally large whatever the class sizes (class-balanced sampling); an epoch is
as many steps as it takes to draw as many rows as the training set holds.
Class k's stream is seeded by ``(random_state, k)`` alone, and the number of
steps can be given, so training one class by itself with the same steps
reproduces its slice of the batched run (see :mod:`aeids.distributed`).
The training matrix is held once, in float32; classes are index arrays into it.

Each class stops on its own: after ``patience`` epochs without improving its
validation loss by ``min_delta`` (relative), or once its training loss falls
below ``stop_loss``. A stopped class keeps its best weights while the others
train on, and every class ends with the weights of its best validation epoch.
"""

import logging
import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import torch

from .exceptions import TrainingError

logger = logging.getLogger(__name__)

_TRAINER = ContextVar("aeids_stack_trainer", default=None)


@dataclass
class TrainingConfig:
    """Options of :func:`train_stack`; see :class:`~aeids.AutoencoderClassifier`."""

    max_epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    min_delta: float = 1e-3
    stop_loss: float | None = None
    margin_weight: float = 0.0
    random_state: int = 0
    steps_per_epoch: int | None = None


def steps_per_epoch(train_rows, batch_size):
    """Steps of an epoch: enough balanced batches to draw every training row."""
    n_train = sum(len(rows) for rows in train_rows)
    return max(1, math.ceil(n_train / (len(train_rows) * batch_size)))


def make_optimizer(parameters, config):
    """Adam with ``config``'s learning rate and weight decay.

    The fused implementation (one kernel for all parameters; PyTorch 2.4 and
    later on the CPU) steps the stacked weights about eight times faster than
    the per-tensor loop; older PyTorch falls back to the loop.
    """
    parameters = list(parameters)
    options = dict(lr=config.learning_rate, weight_decay=config.weight_decay)
    try:
        return torch.optim.Adam(parameters, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, **options)


@contextmanager
def stack_trainer(trainer):
    """Route :func:`train_stack` calls in this context to ``trainer``.

    ``trainer`` takes the arguments of :func:`train_stack` (``stream_ids``
    excepted) and returns its history; None restores the local loop. This
    is how :func:`aeids.distributed.train_on` sends classes to workers.
    """
    token = _TRAINER.set(trainer)
    try:
        yield
    finally:
        _TRAINER.reset(token)


def train_stack(stack, X, train_rows, val_rows, config, margins=None,
                callback=None, stream_ids=None):
    """Train every autoencoder of ``stack`` on its own class's rows.

    Parameters
    ----------
    stack : AutoencoderStack
        K autoencoders; trained in place.
    X : Tensor of shape (n_samples, n_features), float32
        All training and validation rows.
    train_rows, val_rows : list of K int arrays
        Row indices into ``X`` of each class's training and validation rows.
    config : TrainingConfig
    margins : ndarray of shape (K,) or None
        When given with ``config.margin_weight > 0``, autoencoder k is also
        pushed to reconstruct other classes' rows with an error of at least
        ``margins[k]`` (a hinge), so that it reconstructs them worse than
        its own class.
    callback : callable or None
        Called after every epoch with ``(epoch, history)``.
    stream_ids : list of K int or None
        The class index seeding each autoencoder's shuffle stream; defaults
        to ``0 .. K-1``.

    Returns
    -------
    history : dict
        ``train_loss`` and ``val_loss`` (lists of per-epoch lists of K
        floats), ``best_epoch`` and ``stopped_epoch`` (K ints each).
    """
    trainer = _TRAINER.get()
    if trainer is not None:
        return trainer(stack, X, train_rows, val_rows, config, margins=margins,
                       callback=callback)
    n_models = stack.n_models
    torch.manual_seed(config.random_state)
    optimizer = make_optimizer(stack.parameters(), config)
    ids = range(n_models) if stream_ids is None else stream_ids
    streams = [
        _Stream(rows, np.random.default_rng([config.random_state, int(k)]))
        for k, rows in zip(ids, train_rows, strict=True)
    ]
    steps = config.steps_per_epoch or steps_per_epoch(train_rows, config.batch_size)
    use_margin = margins is not None and config.margin_weight > 0
    margin_t = torch.as_tensor(margins, dtype=torch.float32) if use_margin else None
    owner = _owner_vector(train_rows, X.shape[0]) if use_margin else None

    active = torch.ones(n_models, dtype=torch.bool)
    best_loss = np.full(n_models, np.inf)
    best_epoch = np.zeros(n_models, dtype=int)
    stopped_epoch = np.full(n_models, -1)
    best_state = [p.detach().clone() for p in stack.parameters()]
    history = {"train_loss": [], "val_loss": []}

    for epoch in range(config.max_epochs):
        stack.train()
        totals = torch.zeros(n_models)
        for _ in range(steps):
            index = np.stack([s.take(config.batch_size) for s in streams])
            batch = X[torch.from_numpy(index)]
            losses = (stack(batch) - batch).pow(2).mean(dim=(1, 2))
            loss = (losses * active).sum()
            if use_margin:
                loss = loss + config.margin_weight * _margin_loss(
                    stack, batch, index, owner, margin_t, active
                )
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"The training loss became {loss.item()} at epoch {epoch + 1}; "
                    f"lower the learning rate or check the inputs for extreme "
                    f"values."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            _freeze(stack, best_state, ~active)
            totals += losses.detach()

        train_loss = (totals / steps).numpy()
        val_loss = validation_losses(stack, X, val_rows)
        history["train_loss"].append(train_loss.tolist())
        history["val_loss"].append(val_loss.tolist())

        monitored = np.where(np.isfinite(val_loss), val_loss, train_loss)
        improved = monitored < best_loss * (1 - config.min_delta)
        improved &= active.numpy()
        best_loss[improved] = monitored[improved]
        best_epoch[improved] = epoch
        _capture(stack, best_state, torch.from_numpy(improved))

        done = (epoch - best_epoch) >= config.patience
        if config.stop_loss is not None:
            done |= train_loss < config.stop_loss
        newly = done & active.numpy()
        stopped_epoch[newly] = epoch
        active &= ~torch.from_numpy(done)
        logger.debug("epoch %d: train %s val %s", epoch + 1, train_loss, val_loss)
        if callback is not None:
            callback(epoch, history)
        if not active.any():
            break

    _freeze(stack, best_state, torch.ones(n_models, dtype=torch.bool))
    stopped_epoch[stopped_epoch < 0] = len(history["train_loss"]) - 1
    history["best_epoch"] = best_epoch.tolist()
    history["stopped_epoch"] = stopped_epoch.tolist()
    return history


@torch.no_grad()
def validation_losses(stack, X, val_rows, chunk=65536):
    """Mean error of each autoencoder on its own class's validation rows."""
    stack.eval()
    out = np.full(stack.n_models, np.nan)
    for k, rows in enumerate(val_rows):
        if len(rows) == 0:
            continue
        total = 0.0
        for start in range(0, len(rows), chunk):
            x = X[torch.from_numpy(rows[start:start + chunk])]
            total += stack.member_errors(x, k).sum().item()
        out[k] = total / len(rows)
    return out


def _margin_loss(stack, batch, index, owner, margins, active):
    # Every model reconstructs a slice of every class's batch; rows owned by
    # the model's own class are masked out of its hinge.
    n_models, batch_size, n_features = batch.shape
    take = max(1, batch_size // n_models)
    pool = batch[:, :take].reshape(-1, n_features)
    pool_owner = owner[torch.from_numpy(index[:, :take].reshape(-1))]
    errors = (stack(pool) - pool).pow(2).mean(dim=2)
    other = pool_owner.unsqueeze(0) != torch.arange(n_models).unsqueeze(1)
    hinge = torch.relu(margins.unsqueeze(1) - errors) * other
    per_model = hinge.sum(dim=1) / other.sum(dim=1).clamp(min=1)
    return (per_model * active).sum()


def _owner_vector(train_rows, n_rows):
    owner = torch.full((n_rows,), -1, dtype=torch.long)
    for k, rows in enumerate(train_rows):
        owner[torch.from_numpy(rows)] = k
    return owner


@torch.no_grad()
def _capture(stack, state, mask):
    if mask.any():
        for saved, param in zip(state, stack.parameters()):
            saved[mask] = param[mask]


@torch.no_grad()
def _freeze(stack, state, mask):
    if mask.any():
        for saved, param in zip(state, stack.parameters()):
            param[mask] = saved[mask]


class _Stream:
    """An endless stream of row indices, reshuffled at every pass."""

    def __init__(self, rows, rng):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.rng = rng
        self.buffer = np.empty(0, dtype=np.int64)

    def take(self, n):
        while len(self.buffer) < n:
            self.buffer = np.concatenate([self.buffer, self.rng.permutation(self.rows)])
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out
