"""Pictures rendered through graphviz's `dot`, and the text printers' exact output.

Large graphs: see tests/test_viz_summary.py; picture files: tests/test_viz_files.py.
"""
import re

import numpy as np
import pytest

import autodiff as ad
from autodiff.viz import format_graph


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
    # three forward scopes, and their gradient mirrors
    assert svg.count('class="cluster"') == 6
    for label in ["d layer1", "d inner", "d layer2"]:
        assert f">{label}</text>" in svg
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
    # gradient clusters nest like the forward ones
    assert "subgraph cluster_d_layer1_d_inner {" in source


def test_inputs_are_drawn_in_argument_order(expression):
    x, y, z = expression
    source = ad.to_dot(x - y).source
    assert re.search(r"n0 -> n2 \[.*headlabel=0", source)
    assert re.search(r"n1 -> n2 \[.*headlabel=1", source)
    # no edge labels (they slow dot down several times), and no position where order
    # does not matter
    assert not re.search(r"->.*\blabel=", source)
    assert "headlabel" not in ad.to_dot(x * y).source


def test_too_large_graph_is_refused_with_advice_when_not_summarised(layered):
    w, out = layered
    g, = ad.grad(out, [w])
    with pytest.raises(ad.GraphTooLargeError, match=r"has \d+ nodes.*inputs=.*collapse_scopes=True"):
        ad.to_dot([out, g], max_nodes=10, summarize=False)
    summary = ad.to_dot([out, g], max_nodes=10).source
    assert "Summary: " in summary
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
    assert bundle["text/plain"] == repr(z) and repr(z).startswith("<Add: ")
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_notebook_display_draws_nothing_unasked(expression, monkeypatch):
    from autodiff.viz import dot
    _, _, z = expression
    monkeypatch.setattr(dot.subprocess, "run", lambda *a, **k: pytest.fail("dot was run"))
    assert z._repr_mimebundle_(include=["text/plain"]) == {"text/plain": repr(z)}
    assert z._repr_mimebundle_(exclude=["image/svg+xml"]) == {"text/plain": repr(z)}


def _fake_dot(folder, script):
    """A `dot` program on PATH that runs `script` (a shell body) instead of graphviz;
    ``sleep`` in it is the real one, found before PATH changes."""
    import shutil
    fake = folder / "dot"
    fake.write_text("#!/bin/sh\n" + script.replace("sleep", shutil.which("sleep")) + "\n")
    fake.chmod(0o755)
    return str(folder)


def test_notebook_display_gives_up_on_a_slow_dot_with_a_hint(tmp_path, monkeypatch, expression):
    _, _, z = expression
    # `exec` so that the process the time limit kills is the sleeper itself
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "exec sleep 30"))
    from autodiff.viz import notebook_bundle
    bundle = notebook_bundle(z, time_limit=0.5)
    assert list(bundle) == ["text/plain"]
    assert bundle["text/plain"].startswith(repr(z) + "\n(graph of 7 nodes, not drawn here: "
                                           "drawing took over 0.5 s.")
    assert "ad.print_graph(node)" in bundle["text/plain"]


def test_notebook_display_without_dot_is_text_with_a_hint(tmp_path, monkeypatch, expression):
    _, _, z = expression
    monkeypatch.setenv("PATH", str(tmp_path))
    bundle = z._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "not drawn here: rendering needs the graphviz 'dot' program" in bundle["text/plain"]


def test_a_failing_dot_is_reported(tmp_path, monkeypatch, expression):
    _, _, z = expression
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "echo 'Error: trouble in init_rank' >&2; exit 1"))
    with pytest.raises(RuntimeError, match="dot failed .exit 1.: Error: trouble in init_rank"):
        z.plot_comp_graph(tmp_path / "z.png")
    assert not (tmp_path / "z.png").exists()


def test_plot_comp_graph_stops_dot_after_its_timeout(tmp_path, monkeypatch, expression):
    _, _, z = expression
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "exec sleep 30"))
    with pytest.raises(ad.viz.RenderTimeout, match="within 0.3 s.*max_nodes=.*collapse_depth"):
        z.plot_comp_graph(tmp_path / "z.png", timeout=0.3)
    assert not (tmp_path / "z.png").exists()


# --- clear errors ------------------------------------------------------------------------

@pytest.mark.parametrize("given, shown", [(3.0, "float 3.0"), ([None], "NoneType None at position 0"),
                                           ([], "an empty list")])
def test_not_a_node_is_named(tmp_path, given, shown):
    with pytest.raises(TypeError, match=f"plot_comp_graph: expected a node or a (non-empty )?"
                                        f"list of nodes, got {re.escape(shown)}"):
        ad.plot_comp_graph(given, tmp_path / "x.png")
    with pytest.raises(TypeError, match=f"to_dot: .*got {re.escape(shown)}"):
        ad.to_dot(given)
    assert not (tmp_path / "x.png").exists()


def test_inputs_outside_the_graph_are_named(expression):
    x, y, z = expression
    stranger = ad.Variable(1.0, name="stranger")
    with pytest.raises(ValueError, match=r"inputs=: <Variable stranger shape=\(\) float64> is not "
                                         r"in the graph of the outputs"):
        ad.to_dot(z, inputs=[x, stranger])
    with pytest.raises(TypeError, match="inputs=: expected nodes, got str 'x'"):
        ad.to_dot(z, inputs=["x"])


def test_unknown_format_is_named(tmp_path, expression):
    _, _, z = expression
    with pytest.raises(ValueError, match="cannot render format 'bmpx'.*png"):
        z.plot_comp_graph(tmp_path / "z.bmpx")


# --- gradients ---------------------------------------------------------------------------

class TwoLayer(ad.Module):
    def __init__(self):
        super().__init__()
        from autodiff import nn
        self.fc1 = nn.Linear(3, 4, rng=0)
        self.fc2 = nn.Linear(4, 2, rng=1)

    def forward(self, x):
        return self.fc2(ad.tanh(self.fc1(x)))


def _clusters(source):
    """{cluster label: set of node ids directly inside} from a dot source."""
    found, stack = {}, []
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            stack.append(None)
        elif stack and stack[-1] is None:  # the cluster's attribute line comes first
            stack[-1] = re.search(r'label=("[^"]*"|\S+)', line).group(1).strip('"')
            found[stack[-1]] = set()
        elif line == "}" and stack:
            stack.pop()
        elif stack and re.match(r"n\d+ \[", line):
            found[stack[-1]].add(line.split()[0])
    return found


def test_gradient_nodes_sit_in_mirrors_of_the_forward_scopes():
    model = TwoLayer()
    loss = ad.mean(model(ad.Variable(np.ones((5, 3)), name="batch")) ** 2)
    gw, = ad.grad(loss, [model.fc1.weight])
    order = ad.topo_sort([loss, gw])
    ident = {id(n): f"n{i}" for i, n in enumerate(order)}
    clusters = _clusters(ad.to_dot([loss, gw]).source)
    assert {"d TwoLayer", "d fc1: Linear", "d fc2: Linear"} <= set(clusters)
    # the gradient of fc1's weight comes from fc1's einsum: it is drawn in "d fc1: Linear"
    assert gw.derivative_of.scope == ("TwoLayer", "fc1: Linear")
    assert ident[id(gw)] in clusters["d fc1: Linear"]
    for node in order:  # and every gradient node mirrors its forward node's scope
        if node.derivative_of is not None and node.derivative_of.scope:
            innermost = "d " + node.derivative_of.scope[-1]
            assert ident[id(node)] in clusters[innermost], node


def test_gradient_outputs_are_labelled_with_what_they_differentiate(tmp_path):
    model = TwoLayer()
    batch = ad.Variable(np.ones((5, 3)), name="batch")
    loss = ad.Mul(ad.mean(model(batch) ** 2), 1.0, name="loss")
    gw, = ad.grad(loss, [model.fc1.weight])        # ad.grad records what it differentiates
    unnamed = ad.mean(model(batch))
    gb, = ad.grad(unnamed, [batch])
    ad.plot_comp_graph([loss, gw, gb], tmp_path / "g.svg")
    svg = (tmp_path / "g.svg").read_text()
    assert ">d loss / d fc1.weight</text>" in svg
    assert ">d &lt;Mean&gt; () / d batch</text>" in svg  # no name: op and shape
    source = ad.to_dot([loss, gw]).source
    assert "d loss / d fc1.weight" in source
    assert "d loss" not in ad.to_dot(loss).source  # only gradient outputs are labelled



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


def test_print_graph_prints_and_returns_nothing(expression, capsys):
    _, _, z = expression
    assert ad.print_graph(z) is None  # a REPL would echo a returned string a second time
    assert capsys.readouterr().out == format_graph(z) + "\n"


def test_format_graph_lists_nodes_in_order(expression):
    _, _, z = expression
    assert format_graph(z) == "\n".join([
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


def _run_example(*args, cwd):
    import os
    import pathlib
    import subprocess
    import sys
    script = pathlib.Path(__file__).resolve().parents[2] / "examples" / "plot_graphs.py"
    # no PYTHONPATH: the example must find the package it sits in by itself
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(script), *args], check=True,
                          capture_output=True, text=True, env=env, cwd=cwd).stdout


def test_plot_graphs_example_writes_pictures(tmp_path):
    out = _run_example("--out", str(tmp_path), "--quick", cwd=tmp_path)
    for name in ["expression", "expression_and_gradient", "two_layer_module",
                 "two_layer_collapsed", "deep_model_summary"]:
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
        assert str(tmp_path / f"{name}.png") in out


def test_plot_graphs_example_has_help_and_uses_its_own_package(tmp_path):
    out = _run_example("--help", cwd=tmp_path)
    assert "--quick" in out and "--out" in out
    import os
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parents[2]
    # run from elsewhere, without PYTHONPATH: the package imported is the one beside the
    # example, whichever autodiff is installed
    probe = ("import runpy, sys\n"
             "sys.argv = [sys.argv[1], '--help']\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(sys.modules['autodiff'].__file__)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for script in sorted((root / "examples").glob("*.py")):
        done = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True,
                              text=True, env=env, cwd=tmp_path, check=True)
        assert done.stdout.strip().splitlines()[-1] == str(root / "autodiff" / "__init__.py")
    for script in sorted((root / "examples").glob("*.py")):
        text = script.read_text()
        guard = text.index("sys.path.insert(0, _ROOT)")
        assert guard < text.index("\nimport autodiff"), script.name


def test_pretty_leaves_out_products_with_an_exact_one():
    x, y = ad.Variable(3.0, name="x"), ad.Variable(4.0, name="y")
    gx, = ad.grad(x * y + ad.exp(x + 3), [x])
    assert ad.pretty(gx) == "exp(x + 3) + y"
    assert ad.pretty(x * 2.0) == "x*2"                          # other constants stay
    v = ad.Variable(np.ones(3), name="v")
    assert ad.pretty(ad.Mul(np.ones((2, 3)), v)) != "v"        # a broadcast is not dropped


def test_a_simplified_gradient_keeps_its_label_and_marking():
    x = ad.Variable(np.array([0.3, 0.5]), name="x")
    f = ad.Mul(ad.sum(ad.tanh(x) ** 3), 1.0, name="f")
    g = ad.simplify(ad.grad(f, [x])[0])          # the output node is a new one
    assert g.derivative_of is not None
    assert "d f / d x" in ad.to_dot(g).source
    assert repr(g).startswith("<grad of f wrt x")


def test_jacobian_and_hessian_outputs_are_marked_and_labelled():
    x = ad.Variable(np.array([0.3, 0.5]), name="x")
    y = ad.Tanh(x, name="y")
    jac = ad.jacobian(y, x)
    assert jac.derivative_of is not None and "d y / d x" in ad.to_dot(jac).source
    hess = ad.hessian(ad.Mul(ad.sum(y ** 3), 1.0, name="f"), x)
    assert hess.derivative_of is not None
    assert "d (d f / d x) / d x" in ad.to_dot(hess).source
    assert repr(hess).startswith("<grad of (grad of f wrt x) wrt x")


def test_shared_number_constants_belong_to_no_graph():
    """A number such as the 1 in every tanh derivative is one shared Constant: it must not
    carry the scope or derivative mark of the graph that first used it (a picture of
    another graph would draw it in that graph's cluster, and the mark keeps that graph
    alive)."""
    from autodiff import nn
    cell = nn.RNNCell(3, 3, rng=np.random.default_rng(0))
    h = cell(ad.Variable(np.ones((1, 3)), name="x"), ad.Variable(np.zeros((1, 3)), name="h"))
    ad.grad(ad.sum(h), cell.parameters())        # builds 1 - tanh**2 inside 'RNNCell'
    t = ad.Variable(np.ones(3), name="t")
    forward = 1 - ad.tanh(t)
    constants = [n for n in ad.topo_sort(forward) if isinstance(n, ad.Constant)]
    assert constants and all(c.scope == () and c.derivative_of is None for c in constants)
    assert "RNNCell" not in ad.to_dot(forward).source
