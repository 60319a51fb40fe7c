"""Autoencoders as torch modules: one per class, stacked into one batched module.

:class:`AutoencoderStack` holds K independent autoencoders of the same shape.
Each layer keeps its K weight matrices in one tensor of shape
``(K, n_in, n_out)`` so that all K networks run as batched matrix products,
yet every slice is initialised from its own random stream and receives only
its own gradients: the K networks share no parameters.
"""

import math

import numpy as np
import torch
from torch import nn

from .exceptions import ConfigError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

# Activations applied in place to a layer's fresh output; the others fall
# back to the module.
_IN_PLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}

PRESETS = ("auto", "notebook")


def funnel_layers(n_features, bottleneck=5):
    """Return the research notebook's funnel of encoder widths.

    Widths halve from ``n_features`` down to ``bottleneck``; the decoder
    mirrors them. For 40 features: ``[20, 10, 5]``.

    Parameters
    ----------
    n_features : int
        Width of the input.
    bottleneck : int, default=5
        Width of the narrowest layer.

    Returns
    -------
    list of int
        Encoder widths, bottleneck last.
    """
    widths = []
    width = n_features // 2
    while width > bottleneck:
        widths.append(width)
        width //= 2
    widths.append(bottleneck)
    return widths


def default_layers(n_features):
    """Return the default encoder widths for ``n_features`` inputs.

    Two hidden layers and a bottleneck: ``[h, h // 2, b]`` with ``h`` the
    power of two nearest to ``n_features / 2`` (at least 16, at most 256)
    and ``b`` about an eighth of ``h`` (at least 4), but narrower than the
    input (at least 1), so that no autoencoder can learn to copy its input.
    """
    hidden = 2 ** round(math.log2(max(n_features / 2, 1)))
    hidden = min(max(hidden, 16), 256)
    bottleneck = min(max(hidden // 8, 4), max(n_features - 1, 1))
    return [hidden, hidden // 2, bottleneck]


def resolve_layers(hidden_layers, n_features):
    """Turn a preset name or explicit widths into checked encoder widths.

    Parameters
    ----------
    hidden_layers : "auto", "notebook" or sequence of int
        Encoder widths ending with the bottleneck; the decoder mirrors them.
    n_features : int
        Width of the input.

    Returns
    -------
    list of int
    """
    if isinstance(hidden_layers, str):
        if hidden_layers == "auto":
            return default_layers(n_features)
        if hidden_layers == "notebook":
            return funnel_layers(n_features)
        raise ConfigError(
            f"hidden_layers must be a list of widths or one of {PRESETS}; "
            f"got {hidden_layers!r}."
        )
    widths = [int(w) for w in hidden_layers]
    if not widths or min(widths) < 1:
        raise ConfigError(
            f"hidden_layers must hold positive widths; got {list(hidden_layers)}."
        )
    if widths[-1] >= n_features:
        raise ConfigError(
            f"The bottleneck width {widths[-1]} must be smaller than the "
            f"{n_features} input features, or the autoencoder can learn the "
            f"identity; choose narrower hidden_layers."
        )
    return widths


class AutoencoderStack(nn.Module):
    """K independent fully connected autoencoders evaluated together.

    Parameters
    ----------
    n_models : int
        Number of autoencoders (one per class).
    n_features : int
        Input and output width.
    hidden_layers : list of int
        Encoder widths ending with the bottleneck; the decoder mirrors them.
    activation : str, default="relu"
        Hidden activation; the output layer is linear.
    seeds : list of int or None
        One seed per autoencoder for its initial weights.
    """

    def __init__(self, n_models, n_features, hidden_layers, activation="relu",
                 seeds=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        self.n_models = n_models
        self.n_features = n_features
        self.hidden_layers = list(hidden_layers)
        self.activation = activation
        widths = [n_features, *self.hidden_layers, *self.hidden_layers[-2::-1],
                  n_features]
        self.widths = widths
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_models, a, b))
            for a, b in zip(widths, widths[1:])
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(n_models, 1, b)) for b in widths[1:]
        )
        self._act = ACTIVATIONS[activation]()
        self.reset_parameters(seeds if seeds is not None else list(range(n_models)))

    @property
    def bottleneck_index(self):
        """Index of the layer whose output is the code."""
        return len(self.hidden_layers) - 1

    def reset_parameters(self, seeds):
        """Initialise each autoencoder from its own seed, as ``nn.Linear`` does."""
        with torch.no_grad():
            for k, seed in enumerate(seeds):
                generator = torch.Generator().manual_seed(int(seed))
                for weight, bias in zip(self.weights, self.biases):
                    bound = 1.0 / math.sqrt(weight.shape[1])
                    weight[k].uniform_(-bound, bound, generator=generator)
                    bias[k].uniform_(-bound, bound, generator=generator)

    def forward(self, x):
        """Reconstruct inputs.

        Parameters
        ----------
        x : Tensor of shape (K, B, n_features) or (B, n_features)
            Per-model batches, or one batch fed to every model.

        Returns
        -------
        Tensor of shape (K, B, n_features)
        """
        return self._run(x, len(self.weights))

    def encode(self, x):
        """Return the bottleneck codes, shape (K, B, bottleneck)."""
        return self._run(x, self.bottleneck_index + 1, final_linear=False)

    def _run(self, x, n_layers, final_linear=True):
        last = len(self.weights) - 1
        for i in range(n_layers):
            weight, bias = self.weights[i], self.biases[i]
            if x.dim() == 2:
                # One shared input: a single wide product feeds all K models.
                flat = x @ weight.permute(1, 0, 2).reshape(weight.shape[1], -1)
                x = flat.view(x.shape[0], self.n_models, -1).transpose(0, 1)
                x = x.add_(bias)
            else:
                x = torch.baddbmm(bias, x, weight)
            if i < last or not final_linear:
                # Every layer's output is a fresh tensor: activate it in place.
                x = _IN_PLACE.get(self.activation, self._act)(x)
        return x

    def errors(self, x, feature_weights=None):
        """Mean squared reconstruction error of every row under every model.

        Parameters
        ----------
        x : Tensor of shape (B, n_features)
        feature_weights : Tensor of shape (K, n_features) or None
            Weight of each feature's squared error under each model; None
            weighs every feature equally.

        Returns
        -------
        Tensor of shape (B, K)
        """
        squared = self.forward(x).sub_(x).square_()
        if feature_weights is not None:
            squared = squared.mul_(feature_weights.unsqueeze(1))
        return squared.mean(dim=2).T

    def member_errors(self, x, k):
        """Mean squared reconstruction error of rows ``x`` under model ``k``.

        Parameters
        ----------
        x : Tensor of shape (B, n_features)
        k : int

        Returns
        -------
        Tensor of shape (B,)
        """
        return self.member_feature_errors(x, k).mean(dim=1)

    def member_feature_errors(self, x, k):
        """Squared reconstruction error per feature of rows ``x`` under model ``k``.

        Returns
        -------
        Tensor of shape (B, n_features)
        """
        out = x
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            out = torch.addmm(bias[k], out, weight[k])
            if i < last:
                out = self._act(out)
        return (out - x).pow(2)

    @torch.no_grad()
    def mean_feature_errors(self, x, rows, chunk=65536):
        """Mean squared error per feature of each model on its own rows.

        Parameters
        ----------
        x : Tensor of shape (n_samples, n_features)
        rows : list of K int arrays
            Rows of ``x`` belonging to each model.

        Returns
        -------
        ndarray of shape (K, n_features)
            NaN for a model without rows.
        """
        out = np.full((self.n_models, self.n_features), np.nan)
        for k, index in enumerate(rows):
            if len(index) == 0:
                continue
            total = torch.zeros(self.n_features, dtype=torch.float64)
            for start in range(0, len(index), chunk):
                part = torch.from_numpy(index[start:start + chunk])
                errors = self.member_feature_errors(x[part], k)
                total += errors.sum(dim=0).double().cpu()
            out[k] = (total / len(index)).numpy()
        return out

    @torch.no_grad()
    def median_feature_errors(self, x, rows):
        """Median squared error per feature of each model on its own rows.

        Parameters
        ----------
        x : Tensor of shape (n_samples, n_features)
        rows : list of K int arrays
            Rows of ``x`` belonging to each model (its validation rows).

        Returns
        -------
        ndarray of shape (K, n_features)
            A model without rows gets the median over the other models.
        """
        out = np.full((self.n_models, self.n_features), np.nan)
        for k, index in enumerate(rows):
            if len(index):
                errors = self.member_feature_errors(x[torch.from_numpy(index)], k)
                out[k] = errors.median(dim=0).values.double().cpu().numpy()
        missing = np.isnan(out).all(axis=1)
        if missing.any() and not missing.all():
            out[missing] = np.nanmedian(out[~missing], axis=0)
        return np.nan_to_num(out, nan=1.0)

    def member(self, k):
        """Return autoencoder ``k`` as a standalone ``nn.Sequential`` copy."""
        layers = []
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            linear = nn.Linear(weight.shape[1], weight.shape[2])
            with torch.no_grad():
                linear.weight.copy_(weight[k].T)
                linear.bias.copy_(bias[k, 0])
            layers.append(linear)
            if i < last:
                layers.append(ACTIVATIONS[self.activation]())
        return nn.Sequential(*layers)


TYPICAL_ERRORS = "feature_error_medians"


def export_stack(stack, typical_errors):
    """Tensors to store for a trained stack and its typical feature errors.

    Parameters
    ----------
    stack : AutoencoderStack
    typical_errors : ndarray of shape (K, n_features)
        See :meth:`AutoencoderStack.median_feature_errors`.

    Returns
    -------
    dict of str to Tensor
    """
    tensors = dict(stack.state_dict())
    tensors[TYPICAL_ERRORS] = torch.from_numpy(np.asarray(typical_errors))
    return tensors


def import_stack(tensors, n_models, n_features, hidden_layers, activation):
    """Rebuild a stack and its typical feature errors from stored tensors.

    Raises ``KeyError`` for a missing tensor, ``ValueError`` or torch's
    ``RuntimeError`` for tensors of the wrong shape.

    Returns
    -------
    stack : AutoencoderStack
        In evaluation mode.
    typical_errors : ndarray of shape (n_models, n_features)
    """
    stack = AutoencoderStack(n_models, n_features, hidden_layers, activation)
    tensors = dict(tensors)
    typical = tensors.pop(TYPICAL_ERRORS).double().numpy()
    if typical.shape != (n_models, n_features):
        raise ValueError(f"{TYPICAL_ERRORS} has shape {typical.shape}")
    stack.load_state_dict(tensors, strict=True)
    return stack.eval(), typical
