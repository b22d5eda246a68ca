"""Hypothesis strategies for random graphs, shared by the runtime tests."""
import numpy as np
from hypothesis import strategies as st

import autodiff as ad


@st.composite
def random_graphs(draw):
    """A random DAG of sums (2-7 operands, broadcasting), products and sines over three
    Variables, with a random set of outputs, and the numpy values of every node."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    shapes = [(3,), (2, 3), (1, 3)]
    nodes = [ad.Variable(rng.standard_normal(s), name=f"v{i}") for i, s in enumerate(shapes)]
    values = [n.value for n in nodes]
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["sum", "mul", "sin"]))
        if kind == "sum":
            picks = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=2, max_size=7))
            nodes.append(ad.Add(*[nodes[i] for i in picks]))
            values.append(sum(values[i] for i in picks))
        elif kind == "mul":
            i, j = draw(st.integers(0, len(nodes) - 1)), draw(st.integers(0, len(nodes) - 1))
            nodes.append(nodes[i] * nodes[j])
            values.append(values[i] * values[j])
        else:
            i = draw(st.integers(0, len(nodes) - 1))
            nodes.append(ad.sin(nodes[i]))
            values.append(np.sin(values[i]))
    outs = sorted(set(draw(st.lists(st.integers(0, len(nodes) - 1), max_size=4)))
                  | {len(nodes) - 1})
    return [nodes[i] for i in outs], [values[i] for i in outs], nodes[:3]
