"""autodiff.nn: modules, layers, losses, optimisers and model files, PyTorch-shaped.

A model is a `Module` whose attributes are parameters (`Variable`s) and submodules;
calling it builds ordinary graph nodes inside named scopes, so gradients come from
``ad.grad`` and evaluation from ``ad.evaluate``/``ad.function`` as for any graph::

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = nn.Adam(model.parameters(), lr=1e-2)
    xb, yb = ad.Variable(np.zeros((32, 2))), ad.Variable(np.zeros((32, 1)))
    loss = nn.mse_loss(model(xb), yb)
    step = ad.function([loss, *ad.grad(loss, model.parameters())], inputs=[xb, yb])
    for x, y in batches:
        value, *grads = step(x, y)
        opt.step(grads)
    model.save("model.npz", optimizer=opt)

Names, parameter shapes, initialisation, loss semantics and optimiser updates follow
PyTorch, so weights and habits move between the two (``model.load_state_dict(
{k: v.numpy() for k, v in torch_model.state_dict().items()})``).
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
