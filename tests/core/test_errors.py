"""Bad input raises when the graph is built, naming the op, the operands and the shapes."""
import numpy as np
import pytest

import autodiff as ad


@pytest.fixture
def a():
    return ad.Variable(np.ones((2, 3)), name="a")


@pytest.fixture
def b():
    return ad.Variable(np.ones((4, 5)), name="b")


def test_incompatible_broadcast(a, b):
    with pytest.raises(ValueError, match=r"Add: operands a \(2, 3\), b \(4, 5\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"Mul: .*a \(2, 3\).*b \(4, 5\)"):
        a * b
    with pytest.raises(ValueError, match=r"Where"):
        ad.where(a > 0, a, b)


def test_matmul_inner_dimensions(a, b):
    with pytest.raises(ValueError, match=r"MatMul: a \(2, 3\) @ b \(4, 5\): inner dimensions 3 and 4"):
        a @ b


def test_malformed_einsum(a, b):
    with pytest.raises(ValueError, match=r"Einsum 'ij,jk->ik' on a \(2, 3\), b \(4, 5\): label 'j'"):
        ad.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match=r"Einsum 'i->i' on a \(2, 3\)"):
        ad.einsum("i->i", a)
    with pytest.raises(ValueError, match="invalid subscripts"):
        ad.einsum("i2->", a)
    with pytest.raises(TypeError, match="subscripts string"):
        ad.Einsum(a, b)


@pytest.mark.parametrize("build", [
    lambda a: ad.sum(a, axis=2),
    lambda a: ad.mean(a, axis=-3),
    lambda a: ad.max(a, axis=5),
    lambda a: ad.softmax(a, axis=2),
    lambda a: ad.logsumexp(a, axis=(0, 0)),
    lambda a: ad.swapaxes(a, 0, 2),
    lambda a: ad.concatenate([a, a], axis=2),
])
def test_bad_axis(a, build):
    with pytest.raises(ValueError, match=r"axis"):
        build(a)


def test_bad_axis_message_names_operand(a):
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range for operand a \(2, 3\)"):
        ad.sum(a, axis=2)


def test_bad_reshape(a):
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape a \(2, 3\) \(6 elements\) to \(4, 2\)"):
        ad.reshape(a, (4, 2))
    with pytest.raises(ValueError, match="Reshape"):
        ad.reshape(a, (-1, -1))


def test_bad_index(a):
    with pytest.raises(IndexError, match=r"Slice: invalid index .* for a \(2, 3\)"):
        a[5]
    with pytest.raises(IndexError, match="Slice"):
        a[:, [0, 7]]


def test_bad_concat_and_stack(a, b):
    with pytest.raises(ValueError, match=r"Concat: operands a \(2, 3\), b \(4, 5\) differ"):
        ad.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match="same shape"):
        ad.stack([a, b])


def test_bad_broadcast_to(a):
    with pytest.raises(ValueError, match=r"BroadcastTo: cannot broadcast a \(2, 3\) to shape \(3, 3\)"):
        ad.broadcast_to(a, (3, 3))


def test_bad_loss_shapes(a, b):
    with pytest.raises(ValueError, match=r"SoftmaxCEWithLogits: labels a \(2, 3\) and logits b \(4, 5\)"):
        ad.SoftmaxCEWithLogits(a, b)


def test_non_numeric_values(a):
    with pytest.raises(TypeError, match="numeric"):
        ad.Variable(["x", "y"])
    with pytest.raises(TypeError):
        a * "text"
    with pytest.raises(TypeError, match="list containing nodes"):
        ad.sum([a, a])
