"""Recurrent cells: `RNNCell`, `LSTMCell`, `GRUCell`, one time step each, as in PyTorch.

Parameters have PyTorch's names, shapes, gate order and initialisation (every parameter
U(-1/sqrt(hidden), 1/sqrt(hidden))): ``weight_ih (G*hidden, input)``, ``weight_hh
(G*hidden, hidden)``, ``bias_ih``, ``bias_hh`` with G = 1 (RNN), 4 (LSTM: input, forget,
cell, output gates) or 3 (GRU: reset, update, new). Inputs are ``(batch, input)`` or
unbatched ``(input,)``; a missing state is zeros. A sequence is a Python loop over time
steps, each call one scope (``"cell: LSTMCell #7"``); with ``checkpoint=True`` each step
becomes one checkpoint node, recomputed during the backward pass instead of stored.
"""
import math

import numpy as np

from ...core.node import Constant, Variable
from ...ops.functions import einsum, relu, sigmoid, tanh
from .. import init
from ..module import Module


class _Cell(Module):
    """Shared parameters and helpers of the three cells (`gates` = G above)."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias, rng, dtype, checkpoint):
        super().__init__(checkpoint=checkpoint)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        dtype = np.dtype(dtype or np.float64)
        rows = self.gates * self.hidden_size
        self.weight_ih = Variable(np.zeros((rows, self.input_size), dtype))
        self.weight_hh = Variable(np.zeros((rows, self.hidden_size), dtype))
        self.bias_ih = Variable(np.zeros(rows, dtype)) if bias else None
        self.bias_hh = Variable(np.zeros(rows, dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw new initial values: every parameter U(-1/sqrt(hidden), 1/sqrt(hidden))."""
        rng = init.generator(rng)
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for var in self.parameters():
            init.uniform_(var, -bound, bound, rng)

    def _affine(self, x, weight, bias):
        y = einsum("...i,oi->...o", x, weight)
        return y if bias is None else y + bias

    def _pre_activation(self, x, h):
        """x W_ih^T + h W_hh^T + (b_ih + b_hh): the two biases are added to each other
        first, a (hidden,)-sized node that is the same at every time step (so evaluation
        shares it), leaving as many full-size additions as a single-bias cell has."""
        z = einsum("...i,oi->...o", x, self.weight_ih) + \
            einsum("...i,oi->...o", h, self.weight_hh)
        return z if self.bias_ih is None else z + (self.bias_ih + self.bias_hh)

    def _zeros(self, x):
        shape = x.shape[:-1] + (self.hidden_size,)
        return Constant(np.zeros(shape, dtype=np.result_type(x.dtype, self.weight_ih.dtype)))

    def _check_input(self, x):
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input {x.describe()} must be "
                             f"(batch, {self.input_size}) or ({self.input_size},)")

    def _gate(self, z, k):
        h = self.hidden_size
        return z[..., k * h:(k + 1) * h]

    def extra_repr(self):
        bias = "" if self.bias_ih is not None else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{bias}"


class RNNCell(_Cell):
    """One step of an Elman RNN, as PyTorch's ``nn.RNNCell``.

    ``cell(x, hx=None)`` returns ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, where h is
    `hx` (zeros when it is None).

    Args:
        input_size: size of the input's last axis.
        hidden_size: size of the hidden state.
        bias: whether the cell has the biases `bias_ih` and `bias_hh`.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        rng: a ``numpy.random.Generator`` or an integer seed for the initial values.
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, rng=None,
                 dtype=None, checkpoint=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng, dtype, checkpoint)

    def forward(self, x, hx=None):
        """x (batch, input), hx (batch, hidden) or None -> h' (batch, hidden)."""
        self._check_input(x)
        hx = self._zeros(x) if hx is None else hx
        z = self._pre_activation(x, hx)
        return tanh(z) if self.nonlinearity == "tanh" else relu(z)

    def extra_repr(self):
        act = "" if self.nonlinearity == "tanh" else ", nonlinearity='relu'"
        return super().extra_repr() + act


class LSTMCell(_Cell):
    """One step of an LSTM, as PyTorch's ``nn.LSTMCell`` (gates in its order i, f, g, o).

    ``cell(x, hx=None)`` with ``hx = (h, c)`` (zeros when it is None) returns ``(h', c')``::

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·) of the rows of x W_ih^T + b_ih + h W_hh^T + b_hh
        c' = f * c + i * g
        h' = o * tanh(c')

    Args:
        input_size: size of the input's last axis.
        hidden_size: size of the hidden and cell states.
        bias: whether the cell has the biases `bias_ih` and `bias_hh`.
        rng: a ``numpy.random.Generator`` or an integer seed for the initial values.
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    gates = 4

    def __init__(self, input_size, hidden_size, bias=True, *, rng=None, dtype=None,
                 checkpoint=False):
        super().__init__(input_size, hidden_size, bias, rng, dtype, checkpoint)

    def forward(self, x, hx=None):
        """x (batch, input), hx = (h, c) or None -> (h', c')."""
        self._check_input(x)
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx
        z = self._pre_activation(x, h)
        i, f = sigmoid(self._gate(z, 0)), sigmoid(self._gate(z, 1))
        g, o = tanh(self._gate(z, 2)), sigmoid(self._gate(z, 3))
        c_new = f * c + i * g
        return o * tanh(c_new), c_new


class GRUCell(_Cell):
    """One step of a GRU, in PyTorch's formulation (``nn.GRUCell``).

    ``cell(x, hx=None)`` returns h', where h is `hx` (zeros when it is None)::

        r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    Args:
        input_size: size of the input's last axis.
        hidden_size: size of the hidden state.
        bias: whether the cell has the biases `bias_ih` and `bias_hh`.
        rng: a ``numpy.random.Generator`` or an integer seed for the initial values.
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    gates = 3

    def __init__(self, input_size, hidden_size, bias=True, *, rng=None, dtype=None,
                 checkpoint=False):
        super().__init__(input_size, hidden_size, bias, rng, dtype, checkpoint)

    def forward(self, x, hx=None):
        """x (batch, input), hx (batch, hidden) or None -> h' (batch, hidden)."""
        self._check_input(x)
        h = self._zeros(x) if hx is None else hx
        gi = self._affine(x, self.weight_ih, self.bias_ih)
        gh = self._affine(h, self.weight_hh, self.bias_hh)
        r = sigmoid(self._gate(gi, 0) + self._gate(gh, 0))
        z = sigmoid(self._gate(gi, 1) + self._gate(gh, 1))
        n = tanh(self._gate(gi, 2) + r * self._gate(gh, 2))
        return (1 - z) * n + z * h
