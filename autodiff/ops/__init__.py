"""Operations: op classes (one numpy kernel and one derivative rule each) and the
numpy-style functions that build them."""
from .elementwise import (Add, Subtract, Mul, Negate, Recipr, Divide, Pow, Exp, Expm1, Log,
                          Log1p, Sqrt, Abs, Sin, Cos, Tan, Tanh, Sigmoid, Softplus, ReLU, Step,
                          Sign, Where, Less, LessEqual, Greater, GreaterEqual, Equal, Cast,
                          StopGradient)
from .einsum import Einsum
from .shape_ops import (Reshape, BroadcastTo, ReduceSumToShape, ReduceSumKeepDims, Slice,
                        ScatterAdd, Concat, Pad, Transpose, MatMul)
from .reductions import ReduceMax, Prod, LogSumExp, Softmax
from .losses import SoftmaxCEWithLogits, SigmoidCEWithLogits, SquaredDifference, FrobeniusNorm
from . import functions, methods

methods.install()
