"""`gc_paused`: suspend the cyclic garbage collector around a pass that allocates many
small objects (schedules, derivative graphs). Such a pass creates no garbage cycles, yet
the collector would otherwise run repeatedly over the whole growing graph (about half the
time of building a large schedule)."""
import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    """Disable the cyclic collector inside the block (re-enabled only if it was on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
