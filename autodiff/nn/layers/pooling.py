"""`MaxPool2d` and `AvgPool2d`: reductions over strided windows, PyTorch's semantics
(padding, dilation for max, ceil_mode, count_include_pad, divisor_override)."""
import numpy as np

from ...core.node import Constant
from ...ops.functions import max as reduce_max, sum as reduce_sum, reshape
from ..module import Module
from .windows import pair, output_size, padded, windows, check_input


class _Pool2d(Module):
    """Window geometry shared by the pools."""

    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode):
        super().__init__()
        self.kernel_size = pair(kernel_size, f"{type(self).__name__} kernel_size")
        self.stride = pair(stride if stride is not None else kernel_size,
                           f"{type(self).__name__} stride")
        self.padding = pair(padding, f"{type(self).__name__} padding")
        self.dilation = pair(dilation, f"{type(self).__name__} dilation")
        self.ceil_mode = bool(ceil_mode)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be at most "
                             f"half the kernel size {self.kernel_size}")

    def _geometry(self, x):
        """Output size and ((top, bottom), (left, right)) padding, with the extra bottom and
        right padding that ceil mode's last windows reach into."""
        out, pads = [], []
        for size, k, s, p, d in zip(x.shape[-2:], self.kernel_size, self.stride,
                                    self.padding, self.dilation):
            n = output_size(size, k, s, p, p, d, self.ceil_mode)
            if n <= 0:
                raise ValueError(f"{type(self).__name__}: input {x.describe()} is smaller "
                                 f"than the kernel {self.kernel_size}")
            reach = (n - 1) * s + d * (k - 1) + 1
            pads.append((p, max(p, reach - size - p)))
            out.append(n)
        return tuple(out), tuple(pads)

    def _pool(self, x, fill, reduce):
        check_input(self, x)
        unbatched = x.ndim == 3
        if unbatched:
            x = reshape(x, (1,) + x.shape)
        out, pads = self._geometry(x)
        win = windows(padded(x, pads, fill), self.kernel_size, self.stride, self.dilation, out)
        y = reduce(win, x, out, pads)
        return reshape(y, y.shape[1:]) if unbatched else y

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_Pool2d):
    """The maximum over each window, as PyTorch's ``nn.MaxPool2d``.

    Padding counts as -inf. The gradient goes to the maximum of each window (shared
    equally between exactly tied maxima, where PyTorch picks one). Input (N, C, H, W) or
    (C, H, W).

    Args:
        kernel_size: an int or a pair.
        stride: an int or a pair; defaults to the kernel size.
        padding: an int or a pair, at most half the kernel size.
        dilation: an int or a pair: the spacing between window elements.
        ceil_mode: round the output size up instead of down (PyTorch's rule: the last
            window must start inside the input or the left padding).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        """x (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW)."""
        return self._pool(x, -np.inf, lambda win, *_: reduce_max(win, axis=2))


class AvgPool2d(_Pool2d):
    """The mean over each window, as PyTorch's ``nn.AvgPool2d``.

    The divisor is `divisor_override` if given; else the number of window positions inside
    the padded input (``count_include_pad=True``) or inside the input itself (False), as
    in PyTorch. Divisors are computed once, in numpy, when the graph is built. Input
    (N, C, H, W) or (C, H, W).

    Args:
        kernel_size: an int or a pair.
        stride: an int or a pair; defaults to the kernel size.
        padding: an int or a pair of zero padding, at most half the kernel size.
        ceil_mode: round the output size up instead of down.
        count_include_pad: whether padding positions count in the divisor.
        divisor_override: a fixed divisor for every window, or None.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        """x (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW)."""
        return self._pool(x, 0.0, self._average)

    def _average(self, win, x, out, pads):
        total = reduce_sum(win, axis=2)
        if self.divisor_override is not None:
            return total * (1.0 / self.divisor_override)
        # count the window positions that cover the input (or the padded input), by
        # pooling an indicator of that region the same way
        h, w = x.shape[-2:]
        (top, bottom), (left, right) = pads
        (pt, pl) = self.padding
        region = np.zeros((h + top + bottom, w + left + right))
        if self.count_include_pad:
            region[:h + top + pt, :w + left + pl] = 1.0
        else:
            region[top:top + h, left:left + w] = 1.0
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        counts = np.zeros(out)
        for i in range(kh):
            for j in range(kw):
                counts += region[i:i + sh * (out[0] - 1) + 1:sh, j:j + sw * (out[1] - 1) + 1:sw]
        return total * Constant((1.0 / counts).astype(total.dtype))

    def extra_repr(self):
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"
