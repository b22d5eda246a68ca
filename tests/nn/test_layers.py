"""Layers against PyTorch (the oracle, in float64): weights copied from a torch layer via
``load_state_dict`` (so names and shapes must match), forward values, input gradients and
parameter gradients equal to 1e-9. Plus initialisation, Dropout and Sequential."""
import numpy as np
import pytest
import torch

import autodiff as ad
from autodiff import nn

TOL = 1e-9


def torch_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def compare(ours, theirs, *inputs, seed=0):
    """Same forward value and same gradients (inputs and parameters) as the torch layer,
    under a random output cotangent."""
    theirs = theirs.double()  # float64, without changing torch's global default dtype
    if list(theirs.state_dict()):
        ours.load_state_dict(torch_state(theirs))  # strict: names and shapes as torch's
    xs = [ad.Variable(x, name=f"in{i}") for i, x in enumerate(inputs)]
    txs = [torch.tensor(x, requires_grad=True) for x in inputs]
    y, ty = ours(*xs), theirs(*txs)
    cotangent = np.random.default_rng(seed).standard_normal(ty.shape)
    (ty * torch.tensor(cotangent)).sum().backward()
    params = ours.parameters()
    values = ad.evaluate([y] + ad.grad(ad.sum(y * cotangent), xs + params))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(values[0], ty.detach().numpy(), rtol=0, atol=TOL)
    expected = [t.grad for t in txs] + [p.grad for p in theirs.parameters()]
    assert len(expected) == len(values) - 1
    for got, want in zip(values[1:], expected):
        want = np.zeros(got.shape) if want is None else want.numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# --- dense and embedding -----------------------------------------------------------------

@pytest.mark.parametrize("shape, bias", [((5, 6), True), ((6,), True), ((2, 3, 6), False)])
def test_linear(shape, bias):
    compare(nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias), randn(*shape))
    assert nn.Linear(6, 4).weight.shape == (4, 6)


class _EmbedSum(torch.nn.Module):
    """Embedding rows times a fixed input, so the input gradient is defined."""

    def __init__(self, embed, indices):
        super().__init__()
        self.embed, self.indices = embed, indices

    def forward(self, x):
        return self.embed(torch.tensor(self.indices)) * x


class _OurEmbedSum(nn.Module):
    def __init__(self, embed, indices):
        super().__init__()
        self.embed, self._indices = embed, indices

    def forward(self, x):
        return self.embed(self._indices) * x


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding_gathers_rows_and_accumulates_repeated_indices(padding_idx):
    indices = np.array([[0, 1, 2], [2, 2, 4]])  # repeated rows and the padding row
    theirs = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    ours = nn.Embedding(5, 3, padding_idx=padding_idx)
    compare(_OurEmbedSum(ours, indices), _EmbedSum(theirs, indices), randn(2, 3, 3))
    if padding_idx is not None:
        assert not nn.Embedding(5, 3, padding_idx=1, rng=0).weight.value[1].any()
    with pytest.raises(IndexError):
        ours(np.array([5]))
    with pytest.raises(TypeError):
        ours(np.array([0.5]))


# --- recurrent cells -----------------------------------------------------------------------

class _Seq(torch.nn.Module):
    """A few steps of a cell; returns the last state (summed with c for an LSTM)."""

    def __init__(self, cell, steps):
        super().__init__()
        self.cell, self.steps = cell, steps

    def forward(self, *xs):
        state = None
        for x in xs:
            state = self.cell(x, state)
        return state[0] * state[1] if isinstance(state, tuple) else state


class _OurSeq(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, *xs):
        state = None
        for x in xs:
            state = self.cell(x, state)
        return state[0] * state[1] if isinstance(state, tuple) else state


@pytest.mark.parametrize("kind, kwargs", [
    ("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("RNNCell", {"bias": False}),
    ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}), ("GRUCell", {"bias": False}),
])
@pytest.mark.parametrize("batched", [True, False])
def test_recurrent_cells_over_three_steps(kind, kwargs, batched):
    theirs = getattr(torch.nn, kind)(4, 5, **kwargs)
    ours = getattr(nn, kind)(4, 5, **kwargs)
    xs = [randn(*((3, 4) if batched else (4,)), seed=s) for s in range(3)]
    compare(_OurSeq(ours), _Seq(theirs, 3), *xs)


def test_cells_take_an_explicit_state_and_check_the_input():
    theirs, ours = torch.nn.LSTMCell(4, 5).double(), nn.LSTMCell(4, 5)
    ours.load_state_dict(torch_state(theirs))
    x, h, c = randn(2, 4), randn(2, 5, seed=2), randn(2, 5, seed=3)
    th, tc = theirs(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    oh, oc = ours(ad.Variable(x), (ad.Variable(h), ad.Variable(c)))
    np.testing.assert_allclose(oh(), th.detach().numpy(), atol=TOL)
    np.testing.assert_allclose(oc(), tc.detach().numpy(), atol=TOL)
    with pytest.raises(ValueError, match="LSTMCell"):
        ours(ad.Variable(np.ones((2, 3))))


# --- convolution and pooling ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2}, {"padding": 1}, {"dilation": 2, "padding": 2},
    {"kernel_size": (3, 2), "padding": "same"}, {"padding": "valid"}, {"groups": 2},
    {"stride": (2, 1), "padding": (1, 0), "bias": False}, {"kernel_size": 1},
])
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
def test_conv2d(kwargs):
    options = {"kernel_size": 3, **kwargs}
    compare(nn.Conv2d(4, 6, **options), torch.nn.Conv2d(4, 6, **options), randn(2, 4, 9, 8))


def test_conv2d_unbatched_and_errors():
    compare(nn.Conv2d(3, 2, 3), torch.nn.Conv2d(3, 2, 3), randn(3, 5, 5))
    with pytest.raises(ValueError, match="Conv2d"):
        nn.Conv2d(3, 2, 3)(ad.Variable(np.ones((1, 4, 5, 5))))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        nn.Conv2d(3, 2, 5)(ad.Variable(np.ones((1, 3, 4, 4))))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 2, 3, groups=2)


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True}, {"kernel_size": 2, "dilation": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (2, 3), "stride": 1},
])
def test_max_pool2d(kwargs):
    compare(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), randn(2, 3, 9, 8))


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
     "count_include_pad": False},
    {"kernel_size": 2, "divisor_override": 3},
])
def test_avg_pool2d(kwargs):
    compare(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), randn(2, 3, 9, 8))


def test_pool_unbatched_and_padding_limit():
    compare(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), randn(3, 6, 6))
    with pytest.raises(ValueError, match="half the kernel"):
        nn.MaxPool2d(2, padding=2)


# --- normalisation, activations, containers ----------------------------------------------

@pytest.mark.parametrize("shape, kwargs", [
    ((8,), {}), ((4, 5), {}), ((5,), {"elementwise_affine": False}), ((5,), {"bias": False}),
    ((5,), {"eps": 1e-3}),
])
def test_layer_norm(shape, kwargs):
    theirs = torch.nn.LayerNorm(shape, **kwargs).double()
    with torch.no_grad():  # non-trivial affine parameters
        for p in theirs.parameters():
            p.copy_(torch.tensor(randn(*p.shape, seed=7)))
    compare(nn.LayerNorm(shape, **kwargs), theirs, randn(3, *shape) * 3 + 1)


@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(beta=2.0, threshold=5.0), torch.nn.Softplus(beta=2.0, threshold=5.0)),
    (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.SiLU(), torch.nn.SiLU()),
    (nn.GELU("tanh"), torch.nn.GELU(approximate="tanh")),
    (nn.Softmax(1), torch.nn.Softmax(1)), (nn.LogSoftmax(-1), torch.nn.LogSoftmax(-1)),
    (nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
    (nn.Identity(), torch.nn.Identity()),
], ids=lambda m: repr(m))
def test_activations(ours, theirs):
    x = randn(3, 4, 5) * 12  # reaches softplus's threshold region (x > 20 / beta)
    compare(ours, theirs, x)


def test_gelu_needs_the_tanh_approximation():
    with pytest.raises(NotImplementedError, match="erf"):
        nn.GELU("none")


def test_sequential_matches_torch_names_and_values():
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.ReLU()))
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Sequential(nn.Linear(8, 3), nn.ReLU()))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == \
        ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    compare(ours, theirs, randn(5, 4))
    assert len(ours) == 3 and isinstance(ours[1], nn.Tanh) and len(ours[1:]) == 2
    assert [type(m) for m in ours] == [nn.Linear, nn.Tanh, nn.Sequential]
    ours.append(nn.Sigmoid())
    assert isinstance(ours[-1], nn.Sigmoid)
    named = nn.Sequential({"enc": nn.Linear(2, 2), "act": nn.ReLU()})
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    with pytest.raises(TypeError):
        nn.Sequential(lambda x: x)


# --- dropout ---------------------------------------------------------------------------

def test_dropout_masks_in_training_identity_in_eval():
    drop = nn.Dropout(0.25, rng=0)
    x = ad.Variable(np.ones((200, 200)))
    y = drop(x)()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    assert np.allclose(y[kept], 1 / 0.75)
    assert not np.array_equal(drop(x)(), y)  # a fresh mask for every build
    drop.eval()
    assert drop(x) is x  # eval mode builds nothing
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x)().any()
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_dropout_is_reproducible_with_a_seed_and_its_gradient_uses_the_mask():
    x = ad.Variable(np.random.default_rng(0).standard_normal((4, 5)))
    a, b = nn.Dropout(0.5, rng=3)(x), nn.Dropout(0.5, rng=3)(x)
    assert np.array_equal(a(), b())
    g, = ad.grad(a, [x])
    assert np.array_equal(g() != 0, a() != 0)


# --- initialisation ----------------------------------------------------------------------

@pytest.mark.parametrize("make_ours, make_theirs, name, bound", [
    (lambda: nn.Linear(400, 300, rng=0), lambda: torch.nn.Linear(400, 300), "weight",
     400 ** -0.5),
    (lambda: nn.Linear(400, 500, rng=0), lambda: torch.nn.Linear(400, 500), "bias", 400 ** -0.5),
    (lambda: nn.Conv2d(16, 32, 3, rng=0), lambda: torch.nn.Conv2d(16, 32, 3), "weight",
     144 ** -0.5),
    (lambda: nn.Conv2d(16, 512, 3, groups=4, rng=0),
     lambda: torch.nn.Conv2d(16, 512, 3, groups=4), "bias", 36 ** -0.5),
    (lambda: nn.LSTMCell(30, 200, rng=0), lambda: torch.nn.LSTMCell(30, 200), "weight_hh",
     200 ** -0.5),
    (lambda: nn.GRUCell(30, 200, rng=0), lambda: torch.nn.GRUCell(30, 200), "bias_ih",
     200 ** -0.5),
    (lambda: nn.Embedding(300, 100, rng=0), lambda: torch.nn.Embedding(300, 100), "weight", None),
])
def test_initialisation_follows_pytorch_distributions(make_ours, make_theirs, name, bound):
    """Same distributions as PyTorch's (the numbers differ: the generators differ). The
    expected bound is checked on torch's values too, so it is torch's formula."""
    torch.manual_seed(0)  # both sides seeded: the test is deterministic
    ours = getattr(make_ours(), name).value
    theirs = getattr(make_theirs(), name).detach().numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.float64
    for values in (ours, theirs):
        if bound is None:  # N(0, 1)
            assert abs(values.std() - 1) < 0.02 and abs(values.mean()) < 0.02
        else:  # U(-bound, bound)
            assert 0.9 * bound < np.abs(values).max() <= bound
            assert abs(values.std() / (bound / np.sqrt(3)) - 1) < 0.1


def test_initialisation_is_reproducible_and_layer_norm_starts_at_identity():
    assert np.array_equal(nn.Linear(3, 2, rng=5).weight.value, nn.Linear(3, 2, rng=5).weight.value)
    assert not np.array_equal(nn.Linear(3, 2, rng=5).weight.value,
                              nn.Linear(3, 2, rng=6).weight.value)
    generator = np.random.default_rng(0)
    a, b = nn.Linear(3, 2, rng=generator), nn.Linear(3, 2, rng=generator)
    assert not np.array_equal(a.weight.value, b.weight.value)  # one generator, two draws
    ln = nn.LayerNorm(4)
    assert ln.weight.value.tolist() == [1.0] * 4 and ln.bias.value.tolist() == [0.0] * 4
    assert nn.Linear(3, 2, dtype=np.float32).weight.dtype == np.float32


def test_init_functions():
    v = ad.Variable(np.zeros((50, 40)))
    nn.init.xavier_uniform_(v, rng=0)
    assert np.abs(v.value).max() <= np.sqrt(6 / 90)
    nn.init.kaiming_normal_(v, nonlinearity="relu", rng=0)
    assert abs(v.value.std() / np.sqrt(2 / 40) - 1) < 0.05
    nn.init.constant_(v, 3)
    assert (v.value == 3).all()
    assert nn.init.calculate_gain("tanh") == torch.nn.init.calculate_gain("tanh")
    assert nn.init.calculate_gain("leaky_relu", 0.2) == \
        pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    assert nn.init.fan_in_and_fan_out((8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError):
        nn.init.fan_in_and_fan_out((3,))


def test_float32_models_stay_float32():
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float32), nn.Tanh(),
                          nn.LayerNorm(4, dtype=np.float32), nn.Linear(4, 2, dtype=np.float32))
    x = ad.Variable(np.ones((5, 3), dtype=np.float32))
    loss = nn.softmax_cross_entropy(model(x), np.array([0, 1, 1, 0, 1]))
    values = ad.evaluate([loss, *ad.grad(loss, model.parameters())])
    assert all(v.dtype == np.float32 for v in values)
    opt = nn.Adam(model.parameters(), lr=0.1)
    opt.step(values[1:])
    assert all(p.value.dtype == np.float32 for p in model.parameters())
