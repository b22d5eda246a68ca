"""Wrong operands, parameters and arguments raise when the graph is built, naming the op
and what it takes; nothing a user owns is changed by an attempt."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad


@pytest.fixture
def xy():
    return (ad.Variable(np.array([0.5, 2.0]), name="x"),
            ad.Variable(np.array([3.0, 4.0]), name="y"))


UNARY_CLASSES = [ad.Exp, ad.Expm1, ad.Log, ad.Log1p, ad.Sqrt, ad.Abs, ad.Sin, ad.Cos, ad.Tan,
                 ad.Tanh, ad.Sigmoid, ad.Softplus, ad.ReLU, ad.Negate, ad.Recipr, ad.Step,
                 ad.Sign, ad.StopGradient, ad.FrobeniusNorm]
BINARY_CLASSES = [ad.Add, ad.Subtract, ad.Mul, ad.Divide, ad.Pow, ad.SquaredDifference,
                  ad.SigmoidCEWithLogits, ad.MatMul, ad.Less, ad.Equal]


@pytest.mark.parametrize("cls", UNARY_CLASSES, ids=lambda c: c.__name__)
def test_an_extra_operand_is_refused_and_writes_nothing(cls, xy):
    x, y = xy
    before = y.value.copy()
    with pytest.raises(TypeError, match=cls.__name__) as info:
        cls(x, y)
    assert "1 operand" in str(info.value) and "got 2" in str(info.value)
    assert np.array_equal(y.value, before)


@pytest.mark.parametrize("cls", [c for c in BINARY_CLASSES if c is not ad.Add],
                         ids=lambda c: c.__name__)
def test_a_third_operand_is_refused_not_taken_as_a_name(cls, xy):
    x, y = xy
    with pytest.raises(TypeError, match=cls.__name__):
        cls(x, y, x)
    with pytest.raises(TypeError, match=cls.__name__):
        cls(x, y, "c")  # the name is keyword-only


def test_ops_without_parameters_refuse_them(xy):
    x, _ = xy
    with pytest.raises(TypeError, match="Exp takes no parameters"):
        ad.Exp(x, axis=0)
    with pytest.raises(TypeError, match="Reshape.*unexpected keyword"):
        ad.Reshape(x, (2,), axes=1)
    assert ad.Mul(x, x, name="sq").name == "sq"


def test_calling_a_node_with_a_value_says_what_it_accepts(xy):
    x, y = xy
    z = x * y
    with pytest.raises(TypeError, match=r"feed dict.*ad\.function"):
        z(3.0)
    assert np.array_equal(z({x: np.array([1.0, 1.0])}), [3.0, 4.0])


def test_pad_takes_numpys_constant_values_forms():
    a = np.arange(6.0).reshape(2, 3)
    x = ad.Variable(a, name="x")
    for width, values in [(1, [7, 9]), (1, 5.0), (((1, 0), (2, 1)), ((1, 2), (3, 4))),
                          ((0, 2), [[1, 2]])]:
        expected = np.pad(a, width, constant_values=values)
        assert np.array_equal(ad.pad(x, width, constant_values=values)(), expected)
    with pytest.raises(ValueError, match="pad_width .* expected a number"):
        ad.pad(x, [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="non-negative"):
        ad.pad(x, -1)


@pytest.mark.parametrize("build, error, message", [
    (lambda x: ad.transpose(x, (2, 1)), ValueError, r"Transpose: axis 2 .* x \(2, 3\)"),
    (lambda x: ad.transpose(x, (0,)), ValueError, "each of the 2 axes"),
    (lambda x: ad.max(x, axis=3), ValueError, r"ReduceMax: axis 3 .* x \(2, 3\)"),
    (lambda x: ad.min(x, axis=-4), ValueError, r"ReduceMin: axis -4 .* x \(2, 3\)"),
    (lambda x: ad.prod(x, axis=5), ValueError, r"Prod: axis 5 .* x"),
    (lambda x: ad.logsumexp(x, axis=(0, 0)), ValueError, "LogSumExp: repeated axis"),
    (lambda x: ad.softmax(x, axis=(0, 1)), TypeError, "Softmax: axis must be one integer"),
    (lambda x: ad.sum(x, axis=1.0), TypeError, r"sum: axis must be .* got 1\.0"),
    (lambda x: ad.mean(x, axis="0"), TypeError, "Mean: axis"),
    (lambda x: ad.reshape(x, (6.9,)), TypeError, "Reshape: a shape must be"),
    (lambda x: ad.reshape(x, "23"), TypeError, "Reshape: a shape must be"),
    (lambda x: ad.reshape(x, (4, -1)), ValueError, r"Reshape: cannot reshape x \(2, 3\)"),
    (lambda x: ad.broadcast_to(x, (3, 3)), ValueError, "BroadcastTo: cannot broadcast x"),
    (lambda x: ad.max(x[:, :0], axis=1), ValueError, "size 0"),
    (lambda x: ad.FrobeniusNorm(x, x), TypeError, r"FrobeniusNorm takes 1 operand \(x\)"),
    (lambda x: x[5], IndexError, r"Slice: invalid index 5 for x \(2, 3\)"),
    (lambda x: ad.Einsum("ij->k", x), ValueError, "appear in no operand"),
])
def test_bad_arguments_raise_when_built_naming_op_and_operand(build, error, message):
    x = ad.Variable(np.ones((2, 3)), name="x")
    with pytest.raises(error, match=message):
        build(x)


def test_empty_reductions_that_have_an_answer_have_it():
    x = ad.Variable(np.ones((2, 0)), name="x")
    assert np.array_equal(ad.sum(x, axis=1)(), [0, 0])
    assert np.array_equal(ad.prod(x, axis=1)(), [1, 1])
    assert np.array_equal(ad.logsumexp(x, axis=1)(), [-np.inf, -np.inf])
    assert ad.softmax(x, axis=1)().shape == (2, 0)


def test_a_constant_owns_its_value():
    values = np.array([1.0, 2.0])
    x = ad.Variable(np.ones(2), name="x")
    y = x * values
    f = ad.function(y)
    values[:] = 0  # changing the caller's array changes nothing in the graph
    assert np.array_equal(y(), [1.0, 2.0]) and np.array_equal(f(), [1.0, 2.0])
    constant = y.children[1]
    with pytest.raises(ValueError):
        constant.value[0] = 5.0  # and a Constant's value is read-only


def test_a_kernel_that_disagrees_with_its_rules_is_named():
    class Halve(ad.Node):
        """Declares float64 (the default) but returns float32."""
        elementwise = False

        def forward(self, x):
            return (x / 2).astype(np.float32)

    node = Halve(ad.Variable(np.ones(3), name="x"))
    with pytest.raises(ad.EvaluationError, match=r"Halve.*float32.*declared.*float64"):
        node()


def test_a_node_is_not_mistaken_for_an_array():
    x = ad.Variable(np.ones(2), name="x")
    with pytest.raises(TypeError, match="evaluate it first"):
        np.asarray(x * 2)
    assert isinstance(np.ones(2) + x, ad.Node)  # numpy defers to the node's operators
    with pytest.raises(ValueError, match="twice"):
        ad.function(x * 2, inputs=[x, x])


def test_numpy_signatures_of_pad_clip_and_expand_dims_say_what_they_support():
    x = ad.Variable(np.ones((2, 3)), name="x")
    with pytest.raises(TypeError, match="numpy's `mode`"):
        ad.pad(x, 1, 5.0)                        # numpy's third argument is mode
    with pytest.raises(NotImplementedError, match="mode 'reflect'"):
        ad.pad(x, 1, "reflect")
    with pytest.raises(TypeError, match="a_min or min"):
        ad.clip(x, 0.0, min=1.0)
    with pytest.raises(ValueError, match="expand_dims: axes \\(0, 0\\)"):
        ad.expand_dims(x, (0, 0))


def test_a_name_passed_as_an_operand_is_named_as_such():
    a, b = ad.Variable(1.0, name="a"), ad.Variable(2.0, name="b")
    with pytest.raises(TypeError, match=r"'z' is a string.*keyword-only: name='z'"):
        ad.Add(a, b, "z")
    with pytest.raises(TypeError, match=r"Exp: 'z' is a string.*keyword-only: name='z'"):
        ad.Exp(a, "z")


_dims = st.lists(st.sampled_from([0, 1, 2, 3]), max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(st.lists(_dims, min_size=1, max_size=4))
def test_broadcast_shapes_follow_numpy_and_name_the_op_when_they_do_not_fit(shapes):
    operands = [ad.Variable(np.zeros(s), name=f"v{i}") for i, s in enumerate(shapes)]
    try:
        want = np.broadcast_shapes(*shapes)
    except ValueError:
        with pytest.raises(ValueError, match=r"Add: operands v0 .* cannot be broadcast"):
            ad.Add(*operands)
    else:
        assert ad.Add(*operands).shape == want
