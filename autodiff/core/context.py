"""Build-time context recorded on every new node: the module scope and derivative origin.

Modules open a scope while they build (`scope`), and the gradient transforms mark the
nodes they create with the forward node they came from (`derivative_of`). A rewrite that
replaces a node builds its replacement `like` it, so both marks survive `simplify`. All
are context variables, so two graphs built in different threads or tasks never interfere.
"""
import contextlib
import contextvars
import itertools

_scope = contextvars.ContextVar("autodiff_scope", default=())
_derivative_of = contextvars.ContextVar("autodiff_derivative_of", default=None)
_needed = contextvars.ContextVar("autodiff_needed", default=None)
_finiteness = contextvars.ContextVar("autodiff_finiteness", default=None)


#: Serial numbers of nodes, in the order they are built.
_serials = itertools.count()


def on_node_built(node):
    """Stamp a freshly built node with its serial number, the current scope and the
    derivative origin."""
    node.serial = next(_serials)
    node.scope = _scope.get()
    node.derivative_of = _derivative_of.get()


def stamps():
    """What `on_node_built` reads, for `Node.__init__` to inline it: the serial number
    counter, and functions returning the current scope and derivative origin."""
    return _serials, _scope.get, _derivative_of.get


def next_serial():
    """A number at least that of the next node to be built."""
    return next(_serials)


def current_scope():
    """The module scope nodes built now record (a tuple of names, outermost first)."""
    return _scope.get()


@contextlib.contextmanager
def scope(name):
    """Nodes built inside ``with scope(name):`` record `name` as their innermost scope."""
    token = _scope.set(_scope.get() + (name,))
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def derivative_of(node):
    """Nodes built inside are marked as part of the derivative of `node`."""
    token = _derivative_of.set(node)
    try:
        yield
    finally:
        _derivative_of.reset(token)


def enter_rule(node, needed):
    """Start a derivative rule of `node`: what it builds is marked as the derivative of
    `node`, and `needed` (one flag per child) says which cotangents are used. Returns what
    `exit_rule` takes (plain calls rather than a context manager: this runs per node)."""
    return _derivative_of.set(node), _needed.set(needed)


def exit_rule(tokens):
    """End the derivative rule `enter_rule` started."""
    mark_token, needed_token = tokens
    _needed.reset(needed_token)
    _derivative_of.reset(mark_token)


def cotangent_needed(k):
    """Whether the derivative rule running now must build the cotangent of child `k`
    (False for a child no gradient reaches, such as a constant): a rule may return None
    for it instead of building nodes nobody reads."""
    needed = _needed.get()
    return needed is None or needed[k]


@contextlib.contextmanager
def finiteness_remembered():
    """Inside, `finiteness_memo()` gives one memo for `core.finite.always_finite` (the one
    opened further out, if any): a backward pass asks it of the nodes along a whole
    chain, each answer once."""
    if _finiteness.get() is not None:
        yield
        return
    token = _finiteness.set(({}, []))
    try:
        yield
    finally:
        _finiteness.reset(token)


def finiteness_memo():
    """({id(node): always finite}, [nodes asked about, kept alive so that their ids stay
    theirs]) inside `finiteness_remembered`, else None."""
    return _finiteness.get()


@contextlib.contextmanager
def like(node):
    """Nodes built inside get `node`'s scope and derivative mark (rewrites use this, so
    that what replaces a node keeps its place in pictures)."""
    scope_token = _scope.set(node.scope)
    mark_token = _derivative_of.set(node.derivative_of)
    try:
        yield
    finally:
        _derivative_of.reset(mark_token)
        _scope.reset(scope_token)
