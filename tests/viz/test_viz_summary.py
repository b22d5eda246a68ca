"""Large graphs draw as summaries: screen-sized pictures that name what they folded.

No timings here (see benchmarks/pictures.py); these tests check sizes, the folds and
their labels, which follow from the model's structure.
"""
import re
import struct

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.viz import fold

SCREEN = 2880  # the largest side a picture may have, in pixels (30 inches at 96 dpi)


def png_size(path):
    """(width, height) from a PNG's header."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def drawn_boxes(source):
    """The node statements of a dot source (each a drawn box)."""
    return re.findall(r"^\s*(n\d+|scope_\w+|band_\w+) \[", source, re.M)


def mlp_gradient(layers, width=8):
    """A Sequential of `layers` (Linear, Tanh) pairs, its loss and all its gradients."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(*[m for _ in range(layers)
                            for m in (nn.Linear(width, width, rng=rng), nn.Tanh())])
    loss = ad.Mul(ad.mean(model(ad.Variable(np.ones((4, width)), name="batch")) ** 2), 1.0,
                  name="loss")
    grads = ad.grad(loss, model.parameters())
    for g, p in zip(grads, model.parameters()):
        g.gradient_of = ((loss, p),)
    return [loss, *grads]


def rnn_gradient(steps, hidden=8):
    """An RNN cell unrolled over `steps` steps, a linear head, and all the gradients."""
    rng = np.random.default_rng(0)
    cell, head = nn.RNNCell(4, hidden, rng=rng), nn.Linear(hidden, 2, rng=rng)
    h = None
    for t in range(steps):
        h = cell(ad.Variable(np.ones((3, 4)), name=f"x{t}"), h)
    loss = ad.mean(head(h) ** 2)
    return [loss, *ad.grad(loss, cell.parameters() + head.parameters())]


@pytest.fixture(scope="module")
def mlp_300():
    nodes = mlp_gradient(25)
    assert 290 <= ad.graph_size(nodes) <= 330
    return nodes


STEPS = 140  # about 2,000 nodes, forward and gradient


@pytest.fixture(scope="module")
def rnn_2000():
    nodes = rnn_gradient(STEPS)
    assert 1950 <= ad.graph_size(nodes) <= 2050
    return nodes


def test_a_300_node_mlp_gradient_is_a_screen_sized_summary(tmp_path, mlp_300):
    path = ad.plot_comp_graph(mlp_300, tmp_path / "mlp.png")
    width, height = png_size(path)
    assert width <= SCREEN and height <= SCREEN
    source = ad.to_dot(mlp_300).source
    assert len(drawn_boxes(source)) <= ad.viz.DEFAULT_MAX_NODES
    # 25 (Linear, Tanh) pairs are modules 0..49; the first and the last pair stay apart
    assert "2-47: Linear, Tanh x23" in source
    assert "d 2-47: Linear, Tanh x23" in source  # the gradient folds the same way
    assert f"Summary: {ad.graph_size(mlp_300)} nodes" in source
    # 23 folded pairs hold 46 of the 50 gradient outputs
    assert "46 outputs (46 gradients)" in source
    # the pairs kept apart are drawn with their gradient outputs labelled
    assert "d loss / d 0.weight" in source and "d loss / d 48.weight" in source


def test_a_2000_node_rnn_gradient_is_a_screen_sized_summary(tmp_path, rnn_2000):
    path = ad.plot_comp_graph(rnn_2000, tmp_path / "rnn.png")
    width, height = png_size(path)
    assert width <= SCREEN and height <= SCREEN
    source = ad.to_dot(rnn_2000).source
    assert len(drawn_boxes(source)) <= ad.viz.DEFAULT_MAX_NODES
    # the first and last steps are kept; those between fold, forward and gradient alike
    folded = f"RNNCell #2-#{STEPS - 1} x{STEPS - 2}"
    assert folded in source and "d " + folded in source
    # a shared weight's gradient sums one term per step: that sum is one box, labelled
    for name in ["weight_ih", "weight_hh"]:
        assert source.count(f'label="d <Mean> () / d {name}\n') == 1, name


def test_a_deep_module_folds_at_any_depth():
    class Deep(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(4, 4, rng=i) for i in range(40)]

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Deep()
    wrapper = nn.Sequential(model, nn.Tanh())
    out = ad.sum(wrapper(ad.Variable(np.ones((2, 4)), name="x")))
    source = ad.to_dot(out).source
    # two levels down: Sequential > "0: Deep" > "layers.k: Linear"
    assert "layers.1-38: Linear x38" in source
    boxes = drawn_boxes(source)
    assert len(boxes) <= ad.viz.DEFAULT_MAX_NODES
    # the 80 parameters fold with their layers instead of standing in a row
    assert source.count("shape=ellipse") <= 2 * 2 + 1


def test_collapse_depth_closes_scopes_at_that_depth():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Tanh())

        def forward(self, x):
            return self.inner(x)

    out = ad.sum(Block()(ad.Variable(np.ones((2, 3)), name="x")))
    one = ad.to_dot(out, collapse_depth=1).source
    assert "cluster" not in one and 'label="Block\n' in one
    two = ad.to_dot(out, collapse_depth=2).source
    assert "cluster_Block {" in two and 'label="inner: Sequential\n' in two
    three = ad.to_dot(out, collapse_depth=3).source
    assert 'label="0: Linear\n' in three and 'label="1: Tanh\n' in three
    assert ad.to_dot(out, collapse_scopes=True).source == one
    with pytest.raises(ValueError, match="collapse_depth must be a positive integer.*got 0"):
        ad.to_dot(out, collapse_depth=0)


def test_a_large_graph_without_modules_folds_into_bands(tmp_path):
    x = ad.Variable(np.linspace(-1, 1, 5), name="x")
    y = x
    for k in range(300):  # a chain with no scopes: nothing to fold but the chain itself
        y = ad.tanh(y * (1 + k / 300)) + x
    g, = ad.grad(ad.sum(y), [x])
    size = ad.graph_size([y, g])
    assert size > 1500
    source = ad.to_dot([y, g]).source
    assert len(drawn_boxes(source)) <= ad.viz.DEFAULT_MAX_NODES
    assert re.search(r'label="forward, depth \d+-\d+\n\d+ nodes', source)
    assert re.search(r'label="gradient, depth \d+-\d+\n\d+ nodes', source)
    assert "bands: the top level had" in source
    width, height = png_size(ad.plot_comp_graph([y, g], tmp_path / "chain.png"))
    assert width <= SCREEN and height <= SCREEN


def test_small_graphs_keep_every_node_and_no_caption():
    nodes = mlp_gradient(3)
    size = ad.graph_size(nodes)
    assert size <= ad.viz.DEFAULT_MAX_NODES
    source = ad.to_dot(nodes).source
    assert len(drawn_boxes(source)) == size
    assert "Summary" not in source and "scope_" not in source


def test_the_budget_is_respected_for_any_max_nodes(mlp_300):
    for budget in [10, 25, 60, 150]:
        boxes = drawn_boxes(ad.to_dot(mlp_300, max_nodes=budget).source)
        assert len(boxes) <= budget, budget
    assert len(drawn_boxes(ad.to_dot(mlp_300, max_nodes=400).source)) == \
        ad.graph_size(mlp_300)


def test_the_notebook_shows_a_summary_of_a_large_graph(rnn_2000):
    bundle = rnn_2000[1]._repr_mimebundle_()
    import html
    svg = bundle.get("image/svg+xml")
    assert svg is not None, bundle["text/plain"]
    svg = html.unescape(svg)
    assert f"RNNCell #2-#{STEPS - 1} x{STEPS - 2}" in svg and "Summary:" in svg


# --- runs of repeated scopes ---------------------------------------------------------------

def _groups(labels):
    root = fold.Group((), "", None)
    return [fold.Group((label,), label, root) for label in labels]


@pytest.mark.parametrize("labels, expected", [
    ([f"{i}: Linear" for i in range(6)], ["1-4: Linear x4"]),
    ([f"{i}: {'Linear' if i % 2 == 0 else 'Tanh'}" for i in range(12)],
     ["2-9: Linear, Tanh x4"]),
    (["Cell"] + [f"Cell #{i}" for i in range(2, 9)], ["Cell #2-#7 x6"]),
    ([f"d blocks.{i}: Block" for i in range(5)], ["d blocks.1-3: Block x3"]),
    (["cell: LSTMCell"] + [f"cell: LSTMCell #{i}" for i in range(2, 7)],
     ["cell: LSTMCell #2-#5 x4"]),
])
def test_repeated_sibling_scopes_are_found(labels, expected):
    runs = fold.find_runs(_groups(labels))
    assert [fold.run_label(run) for run in runs] == expected


@pytest.mark.parametrize("labels", [
    [f"{i}: Linear" for i in range(3)],                 # too few repetitions to fold
    ["0: Linear", "1: Linear", "5: Linear", "9: Linear"],  # not consecutive
    ["fc1: Linear", "act: Tanh", "fc2: Linear", "out: Linear"],  # different names
])
def test_scopes_that_do_not_repeat_are_not_folded(labels):
    assert fold.find_runs(_groups(labels)) == []
