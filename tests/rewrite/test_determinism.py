"""`simplify` is deterministic: the same expressions, built in processes with different
allocation histories (so objects live at different addresses), simplify to the same
graphs (the same `pretty` text) and the same bits."""
import json
import os
import subprocess
import sys

from hypothesis import given, settings, strategies as st

WORKER = os.path.join(os.path.dirname(__file__), os.pardir, "support", "simplify_worker.py")
UNARY = ["sin", "exp", "tanh", "neg", "square", "times0", "half"]
BINARY = ["add", "sub", "mul"]


@st.composite
def program(draw):
    steps = []
    for k in range(draw(st.integers(2, 8))):
        size = 3 + k  # x, y, z and the steps so far
        if draw(st.booleans()):
            steps.append([draw(st.sampled_from(UNARY)), draw(st.integers(0, size - 1))])
        else:
            steps.append([draw(st.sampled_from(BINARY)), draw(st.integers(0, size - 1)),
                          draw(st.integers(0, size - 1))])
    return steps


def simplify_in_subprocess(spec, junk):
    out = subprocess.run([sys.executable, WORKER, str(junk)], input=json.dumps(spec),
                         capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "PYTHONHASHSEED": str(junk)})
    return json.loads(out.stdout)


@settings(max_examples=2, deadline=None, derandomize=True, database=None)
@given(st.lists(program(), min_size=50, max_size=50))
def test_same_graph_and_bits_in_every_process(programs):
    # large terms that cancel, so that any change of summation order changes the bits
    spec = {"values": [[1e16, 1.0, 3.0], [-1e16, 2.0, -3.0], [1.0, -1e16, 1e-8]],
            "programs": programs}
    runs = [simplify_in_subprocess(spec, junk) for junk in (0, 7, 31)]
    for k in range(len(programs)):
        texts = {run[k][0] for run in runs}
        values = {tuple(run[k][1]) for run in runs}
        assert len(texts) == 1, (programs[k], texts)
        assert len(values) == 1, (programs[k], values)
