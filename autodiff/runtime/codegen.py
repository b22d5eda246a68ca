"""A schedule compiled to straight-line Python functions.

`Function` runs its first call through the step loop; from the second call on (a
compiled function used again) it runs the same steps as generated code, one line per
step, values in local variables: that skips the per-step list indexing and argument
unpacking of the loop (about 15% of a batch-1 RNN step, where the arrays are tiny).
One-off evaluations never pay for the compilation. The loop stays the reference: it
attributes a failure to its node.

Python's compiler needs memory in proportion to a function's length (about 140 MB for
25,000 lines), so long schedules become a chain of functions of `CHUNK` steps each,
handing the values still needed to the next one through the buffer.
"""

#: Steps per generated function (compiling one takes a few MB at most).
CHUNK = 1000


def compile_steps(steps, output_slots):
    """``run(buf) -> [output values]``: the steps (kernel, argument slots, output slot,
    slots to free after it, node) as code, reading the values loaded into `buf` before
    the call. `buf` is used as the hand-over between chunks."""
    bounds = list(range(0, len(steps), CHUNK)) + [len(steps)]
    live_after = _live_slots_at(steps, bounds[1:], output_slots)
    chunks = [_compile_chunk(steps[a:b], live_after[b], f"chunk{k}")
              for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]

    def run(buf):
        for chunk in chunks:
            chunk(buf)
        return [buf[s] for s in output_slots]
    return run


def _live_slots_at(steps, positions, output_slots):
    """{position: slots whose current value is read at or after that step, or is an
    output}, by one backward pass."""
    wanted = set(positions)
    live, result = set(output_slots), {}
    for pos in range(len(steps), -1, -1):
        if pos in wanted:
            result[pos] = set(live)
        if pos:
            _, args, out, _, _ = steps[pos - 1]
            live.discard(out)
            live.update(args)
    return result


def _compile_chunk(steps, live_at_end, name):
    """One function running `steps` on local variables: it reads from `buf` the values
    made before it, clears a slot in `buf` when its value dies (so memory is freed as in
    the loop), and stores into `buf` the values live after it."""
    kernels, body, local = {}, [], set()
    for k, (kernel, args, out, free, _) in enumerate(steps):
        for a in args:
            if a not in local:
                body.append(f"    v{a} = buf[{a}]")
                local.add(a)
        kernels[f"k{k}"] = kernel
        body.append(f"    v{out} = k{k}({', '.join(f'v{a}' for a in args)})")
        local.add(out)
        if free:
            body.append("    " + " = ".join(f"v{f} = buf[{f}]" for f in free) + " = None")
            local.difference_update(free)
    body += [f"    buf[{s}] = v{s}" for s in sorted(live_at_end & local)]
    code = compile("\n".join([f"def {name}(buf):", *body, "    return None"]),
                   "<autodiff schedule>", "exec")
    namespace = dict(kernels)
    exec(code, namespace)  # noqa: S102 (code built above from slot numbers only)
    return namespace[name]
