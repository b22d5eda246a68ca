"""Modules, layers, losses, optimisers and model files, PyTorch-shaped.

A model is a `Module` whose attributes are parameters (`Variable` objects) and
submodules; calling it builds ordinary graph nodes inside named scopes, so gradients come
from ``ad.grad`` and values from ``ad.evaluate`` or ``ad.function``, as for any graph.
A training step is then a compiled function of the batch (here, learning x1 * x2):

>>> import os, tempfile
>>> import numpy as np
>>> import autodiff as ad
>>> from autodiff import nn
>>> rng = np.random.default_rng(0)
>>> model = nn.Sequential(nn.Linear(2, 16, rng=rng), nn.Tanh(), nn.Linear(16, 1, rng=rng))
>>> opt = nn.Adam(model.parameters(), lr=1e-2)
>>> xb = ad.Variable(np.zeros((32, 2)), name="xb")   # batch slots, fed at every call
>>> yb = ad.Variable(np.zeros((32, 1)), name="yb")
>>> loss = nn.mse_loss(model(xb), yb)
>>> step = ad.function([loss, *ad.grad(loss, model.parameters())], inputs=[xb, yb])
>>> for _ in range(300):
...     x = rng.uniform(-1, 1, (32, 2))
...     value, *grads = step(x, x[:, :1] * x[:, 1:])
...     opt.step(grads)
>>> print(f"{value:.4f}")
0.0007
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> model.save(path, optimizer=opt)                  # resume with model.load(path, opt)

Names, parameter shapes, initialisation, loss semantics and optimiser updates follow
PyTorch, so weights and habits move between the two::

    model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
"""
from . import init
from .module import Module, IncompatibleKeys
from .layers import (Linear, Identity, Embedding, RNNCell, LSTMCell, GRUCell, Conv2d,
                     MaxPool2d, AvgPool2d, LayerNorm, Dropout, ReLU, LeakyReLU, Tanh, Sigmoid,
                     Softplus, ELU, SiLU, GELU, Softmax, LogSoftmax, Flatten, Sequential)
from .losses import mse_loss, softmax_cross_entropy, binary_cross_entropy_with_logits, nll_loss
from .optim import Optimizer, SGD, Adagrad, RMSprop, Adam, AdamW
from .clip import clip_grad_value, clip_grad_norm
from .serialization import save_arrays, load_arrays

__all__ = [
    "init", "Module", "IncompatibleKeys",
    "Linear", "Identity", "Embedding", "RNNCell", "LSTMCell", "GRUCell", "Conv2d",
    "MaxPool2d", "AvgPool2d", "LayerNorm", "Dropout", "ReLU", "LeakyReLU", "Tanh", "Sigmoid",
    "Softplus", "ELU", "SiLU", "GELU", "Softmax", "LogSoftmax", "Flatten", "Sequential",
    "mse_loss", "softmax_cross_entropy", "binary_cross_entropy_with_logits", "nll_loss",
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "clip_grad_value", "clip_grad_norm", "save_arrays", "load_arrays",
]
