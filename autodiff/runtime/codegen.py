"""A schedule compiled to one straight-line Python function.

`Function` runs its first call through the step loop; from the second call on (a
compiled function used again) it runs the same steps as generated code, one line per step, values in local variables: that
skips the per-step list indexing and argument unpacking of the loop (about 15% of a
batch-1 RNN step, where the arrays are tiny). One-off evaluations never pay for the
compilation. The loop stays the reference: it attributes a failure to its node.
"""


def compile_steps(steps, loaded_slots, output_slots):
    """``run(buf) -> [output values]``: the steps (kernel, argument slots, output slot,
    slots to free after it, node) as code; `loaded_slots` are read from `buf` first."""
    kernels = {}
    lines = ["def run(buf):"]
    lines += [f"    v{s} = buf[{s}]" for s in sorted(set(loaded_slots))]
    for k, (kernel, args, out, free, _) in enumerate(steps):
        kernels[f"k{k}"] = kernel
        lines.append(f"    v{out} = k{k}({', '.join(f'v{a}' for a in args)})")
        if free:  # dropped as soon as the loop drops them, so peak memory is the same
            lines.append("    " + " = ".join(f"v{f}" for f in free) + " = None")
    lines.append(f"    return [{', '.join(f'v{s}' for s in output_slots)}]")
    code = compile("\n".join(lines), "<autodiff schedule>", "exec")
    namespace = dict(kernels)
    exec(code, namespace)  # noqa: S102 (code built above from slot numbers only)
    return namespace["run"]
