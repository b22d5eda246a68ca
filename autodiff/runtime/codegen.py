"""A schedule compiled to straight-line Python functions.

`Function` runs its first call through the step loop; from the second call on (a
compiled function used again) it runs the same steps as generated code, values in local
variables: that skips the per-step list indexing and argument unpacking of the loop
(about 15% of a batch-1 RNN step, where the arrays are tiny). One-off evaluations never
pay for the compilation. The loop stays the reference: it attributes a failure to its node.

A value read once, right where the schedule computes it, is not stored at all: its step
becomes an argument of its reader's call, ``v7 = k2(k1(k0(v3)), v5)``, so a chain of
steps is one line. Python's compiler spends about as much on a line as on the call in
it, so this makes generating the code of a long schedule several times cheaper (and the
code a little faster). Calls are nested only in the schedule's own order: the
arguments of a call are evaluated left to right, innermost first, and a step is nested
only when that evaluates the steps in the order the schedule lists them.

Memory is held as in the loop: a value dies when its last reader returns. A nested
value is a temporary the interpreter drops then; a local variable read for the last
time is read as ``(v3, v3 := None)[0]``, which clears the variable and hands the value
to the call alone. Leaves (values of Variables and constants, views of arrays held
elsewhere) are never cleared: that frees no memory.

Python's compiler needs memory in proportion to a function's length (about 140 MB for
25,000 lines), so long schedules become a chain of functions of `CHUNK` steps each,
handing the values still needed to the next one through the buffer.
"""

from ..core.gcpause import gc_paused

#: Steps per generated function (compiling one takes a few MB at most).
CHUNK = 1000

#: Calls nested in one expression at most (Python's parser allows 200 parentheses).
MAX_DEPTH = 50


def compile_steps(steps, output_slots, swappable=()):
    """``run(buf, kernels) -> [output values]``: the steps (kernel, argument slots, output
    slot, slots to free after it, node) as code, reading the values loaded into `buf`
    before the call. `buf` is used as the hand-over between chunks.

    `swappable`: indices of the steps whose kernels each call passes, in that order, in
    `kernels` (a graph of the same structure runs the plan with its own nodes' kernels,
    see `Function.rebind`); the other kernels are part of the code."""
    with gc_paused():  # (many small objects, no cycles: see gc_paused)
        chunks = _compile_chunks(steps, {k: j for j, k in enumerate(swappable)})

    def run(buf, kernels=()):
        for chunk in chunks:
            chunk(buf, kernels)
        return [buf[s] for s in output_slots]
    return run


def _compile_chunks(steps, swappable):
    """The functions running `steps` in chunks of `CHUNK`, in order."""
    namespace, kernel_names = {"_take": _take}, {}
    computed = set()  # slots a step before the chunk wrote: they hold computed values
    chunks = []
    for k, start in enumerate(range(0, len(steps), CHUNK)):
        part = steps[start:start + CHUNK]
        passed = {i - start: j for i, j in swappable.items() if start <= i < start + CHUNK}
        writer = _ChunkWriter(part, computed, kernel_names, namespace, passed)
        chunks.append(_define(writer.source(f"chunk{k}"), f"chunk{k}", namespace))
        computed.update(step[2] for step in part)
    return chunks


def _define(source, name, namespace):
    """The function `name` defined by `source`, its globals `namespace` (the kernels)."""
    code = compile(source, "<autodiff schedule>", "exec")
    exec(code, namespace)  # noqa: S102 (code built from slot numbers and kernel names only)
    return namespace.pop(name)


def _take(buf, slot):
    """``buf[slot]``, cleared in `buf`: the caller holds the value alone."""
    value, buf[slot] = buf[slot], None
    return value


#: A value from `buf` read at most this often in a chunk is read from `buf` each time
#: (a subscript costs the compiler less than a line loading it into a variable).
INLINE_READS = 4


class _ChunkWriter:
    """The source of one function running `steps` on local variables.

    A value is named by an integer: ``k >= 0`` for the value the chunk's k-th step
    makes, ``-1 - s`` for the value in ``buf[s]`` when the function starts. A value made
    before the function is read from `buf`; when it dies in the function, it is taken
    out of `buf` (`_take`, or a local variable `buf[s]` is cleared for), so that its last
    reader holds it alone. A value made in the function and not dead at its end (read
    by a later chunk, or an output) is stored into `buf` when made.

    A step whose value is read once, and dies there, waits (`pending`) to become an
    argument of its reader. Nesting keeps the schedule's order: when a step's waiting
    arguments are not the last steps made, in its argument order, or one of them is
    read again or lives on, or reads a value the step also reads directly (`_read_beside`),
    the waiting steps run first, as statements (`_flush`), as they do before any
    statement. (A value named inside an expression, ``k3((v5 := k1(v2)), v4)``, would be
    assigned only when that argument is evaluated: an earlier argument reading the same
    local variable would see what the slot held before.)
    """

    def __init__(self, steps, computed, kernel_names, namespace, passed):
        self.steps, self.computed = steps, computed
        self.kernel_names, self.namespace = kernel_names, namespace
        self.passed = passed  # step -> index of its kernel in the call's `K`
        self.reads, self.freed, self.count = _values_read(steps)
        self.left = dict(self.count)  # reads still to come, per value
        self.lines = []
        self.pending = []  # (value, expression, depth, values it reads) of steps not run
        #                    yet, in order
        self.waiting = set()  # the values in `pending`

    def source(self, name):
        """The text of ``def name(buf, K)``."""
        self._load_inputs()
        for k, step in enumerate(self.steps):
            self._step(k, step)
        self._flush()
        return "\n".join([f"def {name}(buf, K):", *self.lines, "    return None"])

    def _load_inputs(self):
        """Local variables for the values from `buf` read too often to read in place."""
        cleared = []
        for value in self.count:
            if value >= 0 or self._in_place(value):
                continue
            s = -1 - value
            self.lines.append(f"    v{s} = buf[{s}]")
            if value in self.freed and s in self.computed:
                cleared.append(f"buf[{s}]")
        if cleared:
            self.lines.append("    " + " = ".join(cleared) + " = None")

    def _in_place(self, value):
        """Whether a value from `buf` is read from `buf` where it is used."""
        if self.count[value] == 1:
            return True
        return self.count[value] <= INLINE_READS and not (
            value in self.freed and -1 - value in self.computed)

    def _step(self, k, step):
        kernel, _, out, _, _ = step
        values = self.reads[k]
        inner = self._take_waiting(values) if self.waiting else None
        args, depth, reads = [], 0, set(values)
        left = self.left
        for v in values:
            if inner and v in inner:
                expression, d, nested_reads = inner.pop(v)
                args.append(expression)
                depth = max(depth, d)
                reads |= nested_reads
            else:
                args.append(self._argument(v))
            left[v] -= 1
        if k in self.passed:
            name = f"K[{self.passed[k]}]"
        else:
            name = self.kernel_names.get(id(kernel)) or self._kernel_name(kernel)
        expression = f"{name}({', '.join(args)})"
        if k in self.count and depth < MAX_DEPTH:
            self.pending.append((k, expression, depth + 1, reads))
            self.waiting.add(k)
        else:  # read only after the chunk, or nested deep enough: a statement
            self._flush()
            self._assign(k, out, expression)

    def _take_waiting(self, values):
        """{value: (expression, depth)} of the waiting steps a step reads, taken off
        `pending`; all waiting steps run first instead when that would change the order."""
        waiting, pending = self.waiting, self.pending
        nested = [v for v in values if v in waiting]
        if not nested:
            return None
        if len(nested) > 1:
            nested = list(dict.fromkeys(nested))  # (a value read twice is nested once)
        count, freed = self.count, self.freed
        if len(nested) > len(pending) or any(
                pending[-1 - i][0] != v for i, v in enumerate(reversed(nested))) or any(
                count[v] > 1 or v not in freed for v in nested) or self._read_beside(
                values, nested):
            self._flush()
            return None
        inner = {}
        for _ in nested:
            value, expression, depth, reads = pending.pop()
            waiting.discard(value)
            inner[value] = (expression, depth, reads)
        return inner

    def _read_beside(self, values, nested):
        """Whether a waiting step in `nested` reads a value the step reading `values` also
        reads directly: the direct read may be the last one and clear the variable,
        ``k3((v5, v5 := None)[0], k2(v5))``, before the nested call (an argument after
        it) reads it."""
        direct = {v for v in values if v not in nested}
        return any(direct & reads for _, _, _, reads in self.pending[-len(nested):])

    def _argument(self, value):
        """The text reading `value` (not waiting) as an argument of a step."""
        last = self.left[value] == 1 and value in self.freed
        if value >= 0:
            s = self.steps[value][2]
            return f"(v{s}, v{s} := None)[0]" if last else f"v{s}"  # (the call holds it)
        s = -1 - value
        if not self._in_place(value):
            return f"(v{s}, v{s} := None)[0]" if last and s in self.computed else f"v{s}"
        return f"_take(buf, {s})" if last and s in self.computed else f"buf[{s}]"

    def _flush(self):
        """Run the waiting steps, oldest first, as statements."""
        for k, expression, _, _ in self.pending:
            self._assign(k, self.steps[k][2], expression)
        self.waiting.clear()
        self.pending.clear()

    def _assign(self, k, slot, expression):
        """The statement computing the k-th step: into a variable if the chunk reads it,
        into `buf` if it lives after the chunk."""
        targets = f"v{slot} = " if k in self.count else ""
        if k not in self.freed:
            targets += f"buf[{slot}] = "
        self.lines.append(f"    {targets}{expression}")

    def _kernel_name(self, kernel):
        """A new global name for `kernel` (one per kernel object, shared by the chunks)."""
        name = self.kernel_names[id(kernel)] = f"k{len(self.kernel_names)}"
        self.namespace[name] = kernel
        return name


def _values_read(steps):
    """Per step, the values its arguments read (see `_ChunkWriter`); the values freed in
    the chunk (each after its last read); how often each value is read."""
    writer, reads, freed, count = {}, [], set(), {}
    find, seen = writer.get, count.get
    for k, (_, args, out, free, _) in enumerate(steps):
        values = [find(a, -1 - a) for a in args]
        for v in values:
            count[v] = seen(v, 0) + 1
        reads.append(values)
        if free:
            freed.update([find(f, -1 - f) for f in free])
        writer[out] = k
    return reads, freed, count
