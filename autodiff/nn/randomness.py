"""Build-time random draws that a checkpoint's recomputation repeats exactly.

A layer such as `Dropout` draws its mask when its nodes are *built*, and bakes it into
the graph as a Constant. A checkpointed module is built twice: once for its value, and
again (by `Checkpoint`'s derivative rule) for its gradient. The gradient is only right if
the second build uses the same mask, so every build-time decision that depends on random
state (or on the training flag) goes through `draw`:

* outside any checkpoint, ``draw(make)`` is just ``make()``;
* the first build of a checkpointed call records each drawn value on the call's `Tape`;
* every later build of that call replays the recorded values, in order.

Tapes nest (a checkpointed module inside another one): a value comes from the innermost
replaying tape if there is one (else it is drawn fresh), and is recorded by every
recording tape inside that one. State lives in a context variable, so graphs built in
different threads or tasks never see each other's tapes.
"""
import contextlib
import contextvars

# The active tapes, outermost first: each entry is ("record", list) or ("replay", iterator).
_active = contextvars.ContextVar("autodiff_nn_tapes", default=())


class Tape:
    """The build-time draws of one checkpointed call: recorded once, then replayed."""

    def __init__(self):
        self.draws = None  # None until the first build has recorded

    @contextlib.contextmanager
    def active(self):
        """Record the draws made inside (first use), or replay them (every later use)."""
        if self.draws is None:
            self.draws = []
            entry = ("record", self.draws)
        else:
            entry = ("replay", iter(self.draws))
        token = _active.set(_active.get() + (entry,))
        try:
            yield
        finally:
            _active.reset(token)


def draw(make):
    """``make()``, or the value an enclosing checkpoint recorded for this draw.

    `make` takes no arguments and returns the value (a mask array, or None); call `draw`
    in the same order on every build of a module, which a deterministic forward does.
    """
    tapes = _active.get()
    source = -1
    for i in range(len(tapes) - 1, -1, -1):
        if tapes[i][0] == "replay":
            source = i
            break
    if source >= 0:
        try:
            value = next(tapes[source][1])
        except StopIteration:
            raise RuntimeError("a checkpointed module drew more random values when rebuilt "
                               "for its gradient than when first built; its forward must "
                               "build the same graph every time") from None
    else:
        value = make()
    for kind, store in tapes[source + 1:]:
        if kind == "record":
            store.append(value)
    return value
