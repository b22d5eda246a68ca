"""Pictures rendered through graphviz's `dot`, and the text printers' exact output."""
import numpy as np
import pytest

import autodiff as ad


@pytest.fixture
def expression():
    x = ad.Variable(3.0, name="x")
    y = ad.Variable(4.0, name="y")
    return x, y, x * y + ad.exp(x + 3)


@pytest.fixture
def layered():
    with ad.scope("layer1"):
        w = ad.Variable(np.ones((3, 2)), name="weight")
        h = ad.tanh(ad.Variable(np.ones((4, 3)), name="input") @ w)
        with ad.scope("inner"):
            h = ad.relu(h * 2)
    with ad.scope("layer2"):
        out = ad.sum(h @ ad.Variable(np.ones((2, 1)), name="w2"))
    return w, out


def test_png_is_rendered(tmp_path, expression):
    _, _, z = expression
    path = z.plot_comp_graph(tmp_path / "z.png")
    data = (tmp_path / "z.png").read_bytes()
    assert str(path).endswith("z.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_svg_shows_labels_clusters_and_derivatives(tmp_path, layered):
    w, out = layered
    g, = ad.grad(out, [w])
    ad.plot_comp_graph([out, g], tmp_path / "m.svg")
    svg = (tmp_path / "m.svg").read_text()
    for text in ["weight", "input", "tanh", "relu", "layer1", "inner", "layer2", "(4, 2)"]:
        assert text in svg
    assert svg.count('class="cluster"') == 3
    assert "derivative of" in svg


def test_pdf_and_dot_formats(tmp_path, expression):
    _, _, z = expression
    ad.plot_comp_graph(z, tmp_path / "z.pdf")
    assert (tmp_path / "z.pdf").read_bytes()[:4] == b"%PDF"
    ad.plot_comp_graph(z, tmp_path / "z.dot")
    assert (tmp_path / "z.dot").read_text().startswith("digraph")


def test_dot_source_marks_kinds_clusters_and_derivatives(layered):
    w, out = layered
    g, = ad.grad(out, [w])
    source = ad.to_dot([out, g]).source
    assert "subgraph cluster_layer1 {" in source
    assert "subgraph cluster_layer1_inner {" in source  # nested inside layer1
    assert source.index("cluster_layer1 {") < source.index("cluster_layer1_inner {") \
        < source.index("cluster_layer2 {")
    assert 'fillcolor="#fde5c8"' in source       # derivative nodes
    assert 'shape=ellipse' in source              # variables
    assert "derivative of <Tanh" in source


def test_inputs_are_drawn_in_argument_order(expression):
    x, y, z = expression
    source = ad.to_dot(x - y).source
    assert "n0 -> n2 [label=0" in source and "n1 -> n2 [label=1" in source


def test_too_large_graph_is_refused_with_advice(layered):
    w, out = layered
    g, = ad.grad(out, [w])
    with pytest.raises(ad.GraphTooLargeError, match=r"has \d+ nodes.*inputs=.*collapse_scopes=True"):
        ad.to_dot([out, g], max_nodes=10)
    collapsed = ad.to_dot(out, collapse_scopes=True, max_nodes=10).source
    assert "scope_layer1" in collapsed and "cluster" not in collapsed
    part = ad.to_dot(out, inputs=[w], max_nodes=10).source
    assert "weight" in part and "input" not in part


def test_missing_dot_program_says_how_to_install(tmp_path, monkeypatch, expression):
    _, _, z = expression
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install graphviz.*brew install graphviz"):
        z.plot_comp_graph(tmp_path / "z.png")
    assert not (tmp_path / "z.png").exists()
    assert "digraph" in ad.to_dot(z).source  # text output still works


def test_no_viewer_unless_asked(tmp_path, monkeypatch, expression):
    import graphviz
    opened = []
    monkeypatch.setattr(graphviz, "view", lambda path, **kw: opened.append(path))
    _, _, z = expression
    z.plot_comp_graph(tmp_path / "a.png")
    assert opened == []
    z.plot_comp_graph(tmp_path / "b.png", view=True)
    assert opened == [str(tmp_path / "b.png")]


def test_notebook_display_is_svg(expression):
    _, _, z = expression
    bundle = z._repr_mimebundle_()
    assert bundle["text/plain"] == "<Add shape=() float64>"
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_pretty_infix_with_precedence(expression):
    x, y, z = expression
    assert ad.pretty(z) == "x*y + exp(x + 3)"
    assert ad.pretty((x - y) * -x / (x ** 2) ** y) == "(x - y)*-x/(x**2)**y"
    assert ad.pretty(x - (y - x)) == "x - (y - x)"
    assert ad.pretty(2 ** -x) == "2**(-x)"
    assert ad.pretty(ad.Variable(np.ones((2, 3)), name="m").T) == "m.T"


def test_pretty_names_shared_subexpressions_once():
    x = ad.Variable(0.5, name="x")
    t = ad.tanh(x)
    assert ad.pretty((1 - t * t) * t) == "t1 = tanh(x); (1 - t1*t1)*t1"


def test_print_graph_lists_nodes_in_order(expression):
    _, _, z = expression
    assert ad.print_graph(z, file=open("/dev/null", "w")) == "\n".join([
        "%0 = Variable    # () float64 x",
        "%1 = Variable    # () float64 y",
        "%2 = * %0 %1    # () float64",
        "%3 = Constant 3.0    # () float64",
        "%4 = + %0 %3    # () float64",
        "%5 = exp %4    # () float64",
        "%6 = + %2 %5    # () float64",
        "return %6",
    ])


def test_module_scopes_are_labelled_clusters():
    from autodiff import nn
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(), nn.Linear(4, 2, rng=rng))
    out = ad.sum(model(ad.Variable(np.ones((2, 3)), name="batch")))
    source = ad.to_dot(out).source
    assert 'label="0: Linear"' in source and 'label="2: Linear"' in source
    assert 'label=Sequential' in source or 'label="Sequential"' in source


def test_plot_graphs_example_writes_pictures(tmp_path):
    import subprocess
    import sys
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[2] / "examples" / "plot_graphs.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ["expression", "expression_and_gradient", "two_layer_module",
                 "two_layer_collapsed"]:
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
