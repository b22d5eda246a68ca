"""Operations: the op classes (each with its numpy computation, derivative rule and
traits) and the numpy-style functions that build them."""
from .arithmetic import *  # noqa: F401,F403
from .logic import *  # noqa: F401,F403
from .elementary import *  # noqa: F401,F403
from .shape_ops import *  # noqa: F401,F403
from .einsum import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from . import arithmetic, logic, elementary, shape_ops, einsum, reductions, losses

#: The public op classes.
__all__ = (arithmetic.__all__ + logic.__all__ + elementary.__all__ + shape_ops.__all__
           + einsum.__all__ + reductions.__all__ + losses.__all__)
