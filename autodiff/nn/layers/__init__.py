"""Layers with PyTorch's names, parameter shapes and default initialisation."""
from .linear import Linear, Identity
from .embedding import Embedding
from .recurrent import RNNCell, LSTMCell, GRUCell
from .conv import Conv2d
from .pooling import MaxPool2d, AvgPool2d
from .normalization import LayerNorm
from .dropout import Dropout
from .activation import (ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, ELU, SiLU, GELU, Softmax,
                         LogSoftmax)
from .flatten import Flatten
from .container import Sequential

__all__ = ["Linear", "Identity", "Embedding", "RNNCell", "LSTMCell", "GRUCell", "Conv2d",
           "MaxPool2d", "AvgPool2d", "LayerNorm", "Dropout", "ReLU", "LeakyReLU", "Tanh",
           "Sigmoid", "Softplus", "ELU", "SiLU", "GELU", "Softmax", "LogSoftmax", "Flatten",
           "Sequential"]
