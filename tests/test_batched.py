"""The batched stack against separate per-class models, and per-class stopping."""

import numpy as np
import pytest
import torch

from aeids.network import AutoencoderStack, default_layers
from aeids.training import TrainingConfig, _Stream, train_stack

N_MODELS, N_FEATURES = 4, 12


@pytest.fixture(params=["relu", "tanh", "gelu"])
def stack(request):
    return AutoencoderStack(N_MODELS, N_FEATURES, [8, 3], request.param,
                            seeds=[11, 12, 13, 14])


def rows(n, seed=0):
    return torch.from_numpy(
        np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(np.float32)
    )


@torch.no_grad()
def test_errors_match_separate_models(stack):
    x = rows(300)
    batched = stack.errors(x)
    assert batched.shape == (300, N_MODELS)
    for k in range(N_MODELS):
        alone = (stack.member(k)(x) - x).pow(2).mean(dim=1)
        torch.testing.assert_close(batched[:, k], alone, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stack.member_errors(x, k), alone,
                                   rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_per_model_batches_match_separate_models(stack):
    batches = torch.stack([rows(50, seed=k) for k in range(N_MODELS)])
    shared = rows(50, seed=99)
    out, out_shared = stack(batches), stack(shared)
    for k in range(N_MODELS):
        member = stack.member(k)
        torch.testing.assert_close(out[k], member(batches[k]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out_shared[k], member(shared),
                                   rtol=1e-5, atol=1e-6)


def test_gradients_match_separate_models(stack):
    x = rows(64)
    stack.errors(x).sum().backward()
    for k in range(N_MODELS):
        member = stack.member(k)
        (member(x) - x).pow(2).mean(dim=1).sum().backward()
        linears = [layer for layer in member if isinstance(layer, torch.nn.Linear)]
        for weight, linear in zip(stack.weights, linears, strict=True):
            torch.testing.assert_close(weight.grad[k], linear.weight.grad.T,
                                       rtol=1e-4, atol=1e-6)


def test_models_share_no_gradient():
    stack = AutoencoderStack(3, N_FEATURES, [6, 2])
    batch = rows(32).expand(3, -1, -1).clone()
    (stack(batch)[1] - batch[1]).pow(2).mean().backward()
    for weight in stack.weights:
        assert weight.grad[[0, 2]].abs().sum() == 0
        assert weight.grad[1].abs().sum() > 0


def test_stream_shuffles_indices_and_covers_each_pass():
    stream = _Stream(np.arange(10, 20), np.random.default_rng(0))
    first, second = stream.take(10), stream.take(10)
    assert sorted(first) == sorted(second) == list(range(10, 20))
    assert first.dtype == np.int64
    assert not np.array_equal(first, second)


def test_stopped_class_keeps_its_best_weights():
    # Class 0 trains on rows at +4 and validates on rows at -4: the better it
    # fits, the worse its validation loss, so it stops after its first epoch.
    # Class 1 validates on rows like its training rows and trains on.
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(500, N_FEATURES)).astype(np.float32)
    X[:150, : N_FEATURES // 2] += 4
    X[400:, : N_FEATURES // 2] -= 4
    X = torch.from_numpy(X)
    train_rows = [np.arange(0, 150), np.arange(150, 300)]
    val_rows = [np.arange(400, 500), np.arange(300, 400)]
    stack = AutoencoderStack(2, N_FEATURES, [8, 3], seeds=[1, 2])
    snapshots = []

    def record(epoch, history):
        snapshots.append([p.detach().clone() for p in stack.parameters()])

    config = TrainingConfig(max_epochs=8, batch_size=16, learning_rate=1e-2,
                            patience=1, random_state=0)
    history = train_stack(stack, X, train_rows, val_rows, config, callback=record)
    stopped, best = history["stopped_epoch"], history["best_epoch"]
    assert stopped[0] < len(snapshots) - 1
    assert stopped[1] == len(snapshots) - 1

    final = list(stack.parameters())
    for param, saved in zip(final, snapshots[best[0]], strict=True):
        assert torch.equal(param[0], saved[0])
    later = snapshots[stopped[0] + 1:]
    assert all(torch.equal(s[0][0], final[0][0]) for s in later)
    assert not torch.equal(final[0][1], snapshots[stopped[0]][0][1])


def test_default_bottleneck_is_narrower_than_the_input():
    for n_features in range(2, 300):
        layers = default_layers(n_features)
        assert layers[-1] < n_features
        assert layers == sorted(layers, reverse=True)
    assert default_layers(1)[-1] == 1
    assert default_layers(190) == [128, 64, 16]
