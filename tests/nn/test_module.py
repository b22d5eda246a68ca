"""Module: parameters and names, scopes, modes, state dicts, checkpointed calls."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.core.node import Variable


class MLP(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        self.fc1 = nn.Linear(4, 8, rng=rng)
        self.layers = [nn.Linear(8, 8, rng=rng + 1), nn.Linear(8, 3, rng=rng + 2)]
        self.heads = {"a": nn.Linear(3, 2, rng=rng + 3)}
        self.scale = Variable(np.ones(2))

    def forward(self, x):
        h = ad.tanh(self.fc1(x))
        for layer in self.layers:
            h = ad.tanh(layer(h))
        return self.heads["a"](h) * self.scale


NAMES = ["scale", "fc1.weight", "fc1.bias", "layers.0.weight", "layers.0.bias",
         "layers.1.weight", "layers.1.bias", "heads.a.weight", "heads.a.bias"]


def x_batch(n=5, seed=0):
    return ad.Variable(np.random.default_rng(seed).standard_normal((n, 4)), name="x")


# --- parameters and names --------------------------------------------------------------

def test_named_parameters_in_pytorch_order_with_dotted_names():
    model = MLP()
    assert [name for name, _ in model.named_parameters()] == NAMES
    assert model.parameters() == [v for _, v in model.named_parameters()]
    assert [p.name for p in model.parameters()] == NAMES  # Variables named by their path
    assert model.fc1.weight.shape == (8, 4)
    assert [name for name, _ in model.named_modules()] == ["", "fc1", "layers.0", "layers.1",
                                                          "heads.a"]
    assert model.modules()[1] is model.fc1
    assert [n for n, _ in model.named_children()] == ["fc1", "layers.0", "layers.1", "heads.a"]
    assert [n for n, _ in model.named_parameters(recurse=False)] == ["scale"]


def test_shared_modules_and_parameters_are_listed_once_private_attributes_never():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(3, 3, rng=0)
            self.dec = self.enc           # shared module
            self.w = Variable(np.ones(3))
            self.w_again = self.w         # shared parameter
            self._cache = Variable(np.zeros(2))   # private: not a parameter
            self._helper = nn.Linear(2, 2)        # private: not a submodule

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["w", "enc.weight", "enc.bias"]
    assert len(model.modules()) == 2
    assert model.w.name == "w"  # the first name is kept


def test_user_names_are_kept_and_automatic_names_only_grow():
    model = MLP()
    model.fc1.weight.name = "my_weight"
    model(x_batch())
    assert model.fc1.weight.name == "my_weight"
    model.fc1(x_batch())  # the submodule alone: its parameters keep their full paths
    assert model.fc1.bias.name == "fc1.bias"
    lone = nn.Linear(2, 2)
    assert lone.weight.name == "weight"


def test_modules_appended_to_a_list_later_are_named_at_the_first_call():
    model = MLP()
    model.layers.append(nn.Linear(3, 3))
    model.heads["a"] = nn.Linear(3, 2)
    model(x_batch())
    assert model.layers[2].weight.name == "layers.2.weight"
    assert model.heads["a"].bias.name == "heads.a.bias"


def test_a_subclass_that_skips_super_init_still_works():
    class Bare(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x)

    model = Bare()
    assert model.training and not model.checkpoint
    assert model(ad.Variable(np.ones((1, 2)))).shape == (1, 2)
    assert [n for n, _ in model.named_parameters()] == ["lin.weight", "lin.bias"]


def test_forward_is_required_and_repr_shows_the_tree():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
    text = repr(MLP())
    assert "(fc1): Linear(in_features=4, out_features=8, bias=True)" in text
    assert "(layers.1): Linear" in text and text.startswith("MLP(")


# --- scopes ------------------------------------------------------------------------------

def test_calls_build_nested_scopes_named_by_attribute_and_class():
    model = MLP()
    y = model(x_batch())
    scopes = {n.scope for n in ad.topo_sort(y)}
    assert ("MLP", "fc1: Linear") in scopes
    assert ("MLP", "layers.1: Linear") in scopes
    assert ("MLP", "heads.a: Linear") in scopes
    assert y.scope == ("MLP",)
    assert model.fc1.weight.scope == ()  # parameters are built outside any call


def test_two_calls_are_two_scopes():
    model = MLP()
    first, second = model(x_batch()), model(x_batch(seed=1))
    assert first.scope == ("MLP",) and second.scope == ("MLP #2",)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            relu = nn.ReLU()  # an inline module, made twice: two scopes too
            return relu(self.lin(relu(self.lin(x))))

    y = Twice()(ad.Variable(np.ones((2, 3))))
    scopes = {n.scope for n in ad.topo_sort(y)}
    assert {("Twice", "lin: Linear"), ("Twice", "lin: Linear #2"), ("Twice", "ReLU"),
            ("Twice", "ReLU #2")} <= scopes
    again = Twice()(ad.Variable(np.ones((2, 3))))  # counts restart inside each call
    assert ("Twice", "lin: Linear") in {n.scope for n in ad.topo_sort(again)}


def test_pictures_draw_modules_as_nested_clusters():
    lines = ad.to_dot(MLP()(x_batch())).source.splitlines()
    root = [line for line in lines if "label=MLP " in line]
    fc1 = [line for line in lines if 'label="fc1: Linear"' in line]
    assert len(root) == 1 and len(fc1) == 1
    # the fc1 cluster sits inside the MLP cluster: one level deeper
    depth = [len(line) - len(line.lstrip("\t")) for line in root + fc1]
    assert depth[1] == depth[0] + 1
    dot = "\n".join(lines)
    assert "fc1.weight" in dot  # parameters labelled by their dotted names


def test_modules_only_build_ordinary_nodes():
    """A module-built graph is the raw-op graph: same ops, same size, same values."""
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    x = x_batch()
    y = model(x)
    w1, b1, w2, b2 = model.parameters()
    raw = ad.einsum("...i,oi->...o", ad.relu(ad.einsum("...i,oi->...o", x, w1) + b1), w2) + b2
    kinds = [type(n) for n in ad.topo_sort(y)]
    assert kinds == [type(n) for n in ad.topo_sort(raw)]
    assert ad.graph_size(ad.grad(y, [w1])) == ad.graph_size(ad.grad(raw, [w1]))
    assert np.array_equal(y(), raw())


# --- modes ---------------------------------------------------------------------------

def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1][0].training


# --- state dicts ---------------------------------------------------------------------

def test_state_dict_round_trip_and_copies():
    model, other = MLP(rng=0), MLP(rng=10)
    state = model.state_dict()
    assert list(state) == NAMES
    state["fc1.bias"][:] = 123.0  # a copy: the model is unchanged
    assert not np.any(model.fc1.bias.value == 123.0)
    result = other.load_state_dict(model.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = x_batch()
    assert np.array_equal(model(x)(), other(x)())


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("fc1.bias"), "missing: fc1.bias"),
    (lambda s: s.update(extra=np.ones(2)), "unexpected: extra"),
    (lambda s: s.update({"layers.0.weight": np.ones((8, 9))}),
     r"layers.0.weight: shape \(8, 9\) given, \(8, 8\) expected"),
    (lambda s: s.update(scale=np.array(["a", "b"])), "scale: dtype <U1 is not numeric"),
])
def test_load_state_dict_checks_everything_first_and_changes_nothing(change, message):
    model = MLP(rng=0)
    before = model.state_dict()
    state = MLP(rng=5).state_dict()
    change(state)
    with pytest.raises(ValueError, match=message) as info:
        model.load_state_dict(state)
    assert "No parameter was changed" in str(info.value)
    for name, value in model.state_dict().items():
        assert np.array_equal(value, before[name])


def test_non_strict_loading_reports_skipped_names_but_still_checks_shapes():
    model = MLP(rng=0)
    state = MLP(rng=5).state_dict()
    del state["scale"]
    state["extra"] = np.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result == nn.IncompatibleKeys(["scale"], ["extra"])
    assert np.array_equal(model.fc1.weight.value, state["fc1.weight"])
    state["fc1.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match="fc1.bias"):
        model.load_state_dict(state, strict=False)


def test_loaded_values_take_the_parameter_dtype():
    lin = nn.Linear(2, 2, dtype=np.float32)
    lin.load_state_dict({"weight": np.ones((2, 2)), "bias": np.array([1, 2])})
    assert lin.weight.value.dtype == np.float32 and lin.bias.value.tolist() == [1.0, 2.0]


# --- checkpointed calls -----------------------------------------------------------------

def _grads(y, params, order=2):
    first = ad.grad(y, params)
    second = ad.grad(ad.sum(first[0] ** 2), params) if order > 1 else []
    return ad.evaluate(first + second)


def test_checkpointed_module_is_one_node_with_identical_derivatives():
    plain, checked = MLP(rng=0), MLP(rng=0)
    checked.checkpoint = True
    x = x_batch()
    y_plain, y_checked = ad.sum(plain(x) ** 2), ad.sum(checked(x) ** 2)
    kinds = [type(n) for n in ad.topo_sort(y_checked)]
    assert kinds.count(ad.Checkpoint) == 1 and ad.Tanh not in kinds
    node = next(n for n in ad.topo_sort(y_checked) if isinstance(n, ad.Checkpoint))
    assert node.name == "MLP" and node.scope == ("MLP",)
    assert np.allclose(y_plain(), y_checked(), rtol=1e-14)
    for a, b in zip(_grads(y_plain, [x] + plain.parameters()),
                    _grads(y_checked, [x] + checked.parameters())):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-13)


def test_checkpoint_keyword_and_tuple_outputs_over_a_sequence():
    """An LSTM cell returns (h, c) and takes a state tuple; each step is one node."""
    rng = np.random.default_rng(1)
    xs = [ad.Variable(rng.standard_normal((2, 3)), name=f"x{t}") for t in range(4)]

    def run(cell):
        state = None
        for x in xs:
            state = cell(x, state)
        return ad.sum(state[0] ** 2) + ad.sum(state[1])

    plain = nn.LSTMCell(3, 5, rng=0)
    checked = nn.LSTMCell(3, 5, rng=0, checkpoint=True)
    y_plain, y_checked = run(plain), run(checked)
    assert sum(isinstance(n, ad.Checkpoint) for n in ad.topo_sort(y_checked)) == 4
    assert np.isclose(y_plain(), y_checked(), rtol=1e-14)
    for a, b in zip(_grads(y_plain, xs[:1] + plain.parameters()),
                    _grads(y_checked, xs[:1] + checked.parameters())):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-13)


class DropNet(nn.Module):
    def __init__(self, inner_checkpoint=False):
        super().__init__()
        self.lin = nn.Linear(6, 6, rng=0)
        self.drop = nn.Dropout(0.5, rng=1)
        self.block = nn.Sequential(nn.Linear(6, 6, rng=2), nn.Dropout(0.3, rng=3),
                                   checkpoint=inner_checkpoint)

    def forward(self, x):
        return ad.sum(ad.tanh(self.block(self.drop(self.lin(x)))) ** 2)


@pytest.mark.parametrize("inner", [False, True])
def test_checkpoint_rebuild_replays_dropout_masks(inner):
    """The gradient rebuild must use the masks of the forward build, also when
    checkpoints nest; a fresh mask would make the gradient disagree with the value."""
    model = DropNet(inner_checkpoint=inner)
    model.checkpoint = True
    x = ad.Variable(np.random.default_rng(2).standard_normal((4, 6)), name="x")
    y = model(x)
    ad.check_grad(y, [x, model.lin.weight], order=2)
    # and the same masks as an unchecked build drawn from the same generators
    reference = DropNet()
    assert np.isclose(reference(x)(), y(), rtol=1e-13)


def test_checkpointed_call_passes_non_node_arguments_through():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__(checkpoint=True)
            self.lin = nn.Linear(2, 2, rng=0)

        def forward(self, x, factor, extra=None):
            assert extra is None
            return self.lin(x) * factor

    model = Scaled()
    x = ad.Variable(np.ones((1, 2)))
    y = model(x, 3.0)
    assert isinstance(y, ad.Checkpoint)
    assert np.allclose(y(), 3 * model.lin(x)())


# --- the README's "models" example -------------------------------------------------------

MODELS_EXAMPLE = '''
import os, tempfile
import numpy as np
import autodiff as ad
from autodiff import nn

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(2, 32, rng=rng), nn.Tanh(), nn.Linear(32, 3, rng=rng))
opt = nn.Adam(model.parameters(), lr=0.02)
xb = ad.Variable(np.zeros((64, 2)), name="xb")    # batch slots, fed at every call
yb = ad.Variable(np.zeros(64), name="yb")         # class labels 0, 1, 2
loss = nn.softmax_cross_entropy(model(xb), yb)
step = ad.function([loss, *ad.grad(loss, model.parameters())], inputs=[xb, yb])
for _ in range(300):
    x = rng.uniform(-1, 1, (64, 2))
    value, *grads = step(x, (x[:, 0] > 0) + (x[:, 1] > 0))
    opt.step(nn.clip_grad_norm(grads, max_norm=5.0)[0])
path = os.path.join(tempfile.mkdtemp(), "model.npz")
model.save(path, optimizer=opt)                   # atomic; resume with model.load(path, opt)
assert value < 0.2
'''


def test_models_example_trains():
    """The training loop proposed for the README's "models" section."""
    exec(compile(MODELS_EXAMPLE, "models example", "exec"), {})
