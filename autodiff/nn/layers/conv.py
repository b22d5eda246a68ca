"""`Conv2d`: 2-D convolution (cross-correlation, as in PyTorch) as one einsum over a
stack of strided windows."""
import math

import numpy as np

from ...core.node import Variable
from ...ops.functions import einsum, reshape
from .. import init
from ..module import Module
from .windows import pair, output_size, padded, windows, check_input


class Conv2d(Module):
    """2-D convolution (cross-correlation), as PyTorch's ``nn.Conv2d``.

    `weight` is ``(out_channels, in_channels // groups, kh, kw)`` and `bias`
    ``(out_channels,)``, both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``fan_in =
    in_channels // groups * kh * kw``. The input is (N, C, H, W) or (C, H, W); the output
    (N, out_channels, OH, OW) with ``OH = (H + 2p - d(k-1) - 1) // s + 1``::

        y[n, o, u, v] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[n, c, u*s + i*d, v*s + j*d]

    computed as ``einsum("nckuv,ock->nouv", windows, W)``; its gradient is einsums and the
    windows' scatter-adds.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: an int or a pair (kh, kw).
        stride: an int or a pair.
        padding: an int, a pair, ``"valid"`` (none) or ``"same"`` (stride 1 only; an odd
            total puts the extra row or column at the bottom or right, as PyTorch does).
            Padding is with zeros.
        dilation: an int or a pair: the spacing between kernel elements.
        groups: split the channels into this many independent groups.
        bias: whether the layer adds a learned bias.
        padding_mode: only ``"zeros"``.
        rng: a ``numpy.random.Generator`` or an integer seed for the initial values.
        dtype: dtype of the parameters (default float64).
        checkpoint: make each call one checkpoint node (see `Module`).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", *, rng=None,
                 dtype=None, checkpoint=False):
        super().__init__(checkpoint=checkpoint)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2d kernel_size")
        self.stride = pair(stride, "Conv2d stride")
        self.dilation = pair(dilation, "Conv2d dilation")
        self.groups = int(groups)
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode {padding_mode!r} (only 'zeros')")
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d: in_channels {in_channels} and out_channels "
                             f"{out_channels} must be divisible by groups {groups}")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be 'valid', 'same', an int or a pair, "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' needs stride 1")
        else:
            padding = pair(padding, "Conv2d padding")
        self.padding = padding
        dtype = np.dtype(dtype or np.float64)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Variable(np.zeros(shape, dtype))
        self.bias = Variable(np.zeros(self.out_channels, dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw new initial values (PyTorch's default initialisation)."""
        rng = init.generator(rng)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight.shape)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound, rng)

    def _pads(self):
        """((top, bottom), (left, right)) zero padding."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            pads = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        return tuple((p, p) for p in self.padding)

    def forward(self, x):
        """x (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, OH, OW) or (C_out, OH, OW)."""
        check_input(self, x, self.in_channels)
        unbatched = x.ndim == 3
        if unbatched:
            x = reshape(x, (1,) + x.shape)
        pads = self._pads()
        out = tuple(output_size(size, k, s, lo, hi, d) for size, k, s, (lo, hi), d in
                    zip(x.shape[2:], self.kernel_size, self.stride, pads, self.dilation))
        if min(out) <= 0:
            raise ValueError(f"Conv2d: input {x.describe()} is smaller than the kernel "
                             f"{self.kernel_size} (dilation {self.dilation}, padding {pads})")
        win = windows(padded(x, pads), self.kernel_size, self.stride, self.dilation, out)
        n, k = x.shape[0], self.kernel_size[0] * self.kernel_size[1]
        o, g = self.out_channels, self.groups
        c = self.in_channels // g
        if g == 1:
            y = einsum("nckuv,ock->nouv", win, reshape(self.weight, (o, c, k)))
        else:
            win = reshape(win, (n, g, c, k) + out)
            w = reshape(self.weight, (g, o // g, c, k))
            y = reshape(einsum("ngckuv,gock->ngouv", win, w), (n, o) + out)
        if self.bias is not None:
            y = y + reshape(self.bias, (o, 1, 1))
        return reshape(y, y.shape[1:]) if unbatched else y

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
