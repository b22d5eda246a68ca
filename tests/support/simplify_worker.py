"""Run as a subprocess by tests/rewrite/test_determinism.py: builds the expressions
described on stdin (JSON), with a different allocation history in every process (junk
objects allocated between nodes, as arguments say), simplifies them, and prints each
result's `pretty` text and value bytes (JSON)."""
import json
import random
import sys

import numpy as np

import autodiff as ad

UNARY = {"sin": ad.sin, "exp": ad.exp, "tanh": ad.tanh, "neg": lambda v: -v,
         "square": lambda v: v * v, "times0": lambda v: v * 0, "half": lambda v: v * 0.5}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}


def build(program, values, junk):
    names = ["x", "y", "z"]
    pool = [ad.Variable(np.array(v), name=n) for n, v in zip(names, values)]
    for step in program:
        junk.extend([object()] * random.randint(0, 50) + [[0] * random.randint(0, 500)])
        if step[0] in UNARY:
            pool.append(UNARY[step[0]](pool[step[1]]))
        else:
            pool.append(BINARY[step[0]](pool[step[1]], pool[step[2]]))
    y = pool[-1]
    return [y, ad.grad(ad.sum(y * y), pool[:1])[0]]


def main():
    random.seed(int(sys.argv[1]))
    junk = [object() for _ in range(int(sys.argv[1]) * 1000)]
    spec = json.load(sys.stdin)
    results = []
    for program in spec["programs"]:
        outputs = ad.simplify(build(program, spec["values"], junk))
        with np.errstate(all="ignore"):
            values = [np.asarray(o()).tobytes().hex() for o in outputs]
        results.append([ad.pretty(outputs), values])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
