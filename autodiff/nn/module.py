"""`Module`: a reusable piece of a model that owns its parameters and builds nodes.

The contract (parameters, scopes, naming, listing order, state, modes, checkpointing) is
in the docstring of `Module`, which the API reference shows.
"""
import collections
import contextvars

import numpy as np

from ..core.context import scope
from ..core.derivation import records_derivation
from ..core.node import Node, Variable
from ..transforms.checkpoint import Checkpoint, describe_outputs, pack, unpack
from .randomness import Tape
from .serialization import save_arrays, load_arrays

#: Prefix of the optimiser's entries in a file written by ``Module.save(path, optimizer)``.
OPTIMIZER_PREFIX = "optimizer/"

#: What ``load_state_dict`` returns, as in PyTorch: names it skipped (strict=False only).
IncompatibleKeys = collections.namedtuple("IncompatibleKeys", "missing_keys unexpected_keys")

# Call counts per scope label within the innermost module call being built, or None at
# top level. A context variable, so two graphs built concurrently never share counts.
_call_counts = contextvars.ContextVar("autodiff_nn_call_counts", default=None)


class Module:
    """Base class of layers and models: owns parameters and submodules, builds nodes.

    Subclass it, assign parameters (`Variable` objects) and submodules as attributes, and
    write `forward`. Calling a module builds ordinary graph nodes, so gradients come from
    `autodiff.grad` and values from `autodiff.evaluate` or `autodiff.function`, as for
    any graph; a built graph evaluates exactly as the same graph written with raw ops.
    Gradients are graph outputs (``ad.grad(loss, model.parameters())``), never stored on
    parameters, so there is nothing to zero between steps.

    >>> class MLP(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(4, 8, rng=0)
    ...         self.fc2 = nn.Linear(8, 1, rng=1)
    ...
    ...     def forward(self, x):
    ...         return self.fc2(ad.relu(self.fc1(x)))
    >>> model = MLP()
    >>> model
    MLP(
      (fc1): Linear(in_features=4, out_features=8, bias=True)
      (fc2): Linear(in_features=8, out_features=1, bias=True)
    )
    >>> [name for name, _ in model.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    >>> y = model(ad.Variable(np.ones((2, 4)), name="x"))
    >>> y, y.scope
    (<Add shape=(2, 1) float64>, ('MLP', 'fc2: Linear'))
    >>> [g.shape for g in ad.grad(ad.sum(y), model.parameters())]
    [(8, 4), (8,), (1, 8), (1,)]

    **Parameters and submodules.** Public attributes holding a `Variable` or a `Module`,
    also inside lists, tuples and dicts to any depth, are the module's parameters and
    submodules. Attributes whose name starts with ``_`` are private: never parameters,
    never submodules. Parameters are named by their dotted path (``"fc1.weight"``,
    ``"layers.0.bias"``) when they are assigned and again at the module's first top-level
    call (which catches modules appended to a list attribute), so pictures and error
    messages say which parameter a leaf is. A name given by the user is kept, and an
    automatic name only ever grows by a prefix (a submodule called on its own does not
    rename its parameters back).

    **Listing.** `parameters`, `named_parameters`, `modules` and `named_modules` list in
    PyTorch's order (a module's own parameters, then its submodules depth first), each
    object once even when it is shared.

    **Scopes.** ``module(*args)`` calls `forward` inside ``ad.scope(label)``, so every
    node it builds records the module in ``node.scope`` and graph pictures draw modules
    as nested clusters. The label is ``"<attribute path>: <class>"`` (``"fc1: Linear"``,
    ``"layers.0: Linear"``), or the class name for a module called on its own. Two calls
    are two scopes: the n-th call of a label within one enclosing call (or of a module at
    top level) is suffixed ``" #n"`` for n >= 2.

    **State.** `state_dict` maps dotted names to copies of the values;
    `load_state_dict` checks every name and shape first and changes nothing when any
    check fails. `save` and `load` do the same through an ``.npz`` file written
    atomically and read without unpickling (see `save_arrays`); an optimiser's state can
    ride along in the same file.

    **Checkpointing.** With ``checkpoint=True`` each call is one `autodiff.Checkpoint`
    node: its value is computed without keeping the forward pass's intermediates, and its
    gradient rebuilds them. Build-time random draws (dropout masks) are replayed in the
    rebuild, so gradients equal the unchecked ones exactly.

    **Modes.** `training` is True in training mode (the default) and False in evaluation
    mode; `train` and `eval` set it on the module and all its submodules, and layers
    such as `Dropout` read it. `checkpoint` (below) may also be changed at any time.

    Args:
        checkpoint: make each call one checkpoint node (see above). Subclasses pass it on
            with ``super().__init__(checkpoint=checkpoint)``.
    """

    # Class-level defaults, so a subclass that forgets ``super().__init__()`` still works.
    training = True
    checkpoint = False
    _scope_name = None  # attribute path in the module that owns this one
    _top_calls = 0      # calls made outside any other module call

    def __init__(self, *, checkpoint=False):
        self.training = True
        self.checkpoint = bool(checkpoint)

    # --- building ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        """Build this module's nodes from its inputs; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
        counts = _call_counts.get()
        base = self.scope_base()
        if counts is None:  # a top-level call
            if not self._top_calls:  # the first: name parameters added since assignment
                self._name_parameters()
            n = self._top_calls + 1
            object.__setattr__(self, "_top_calls", n)
        else:
            n = counts[base] = counts.get(base, 0) + 1
        label = base if n == 1 else f"{base} #{n}"
        token = _call_counts.set({})  # calls made inside this one count afresh
        try:
            with scope(label):
                if self.checkpoint:
                    return _checkpointed_call(self, label, args, kwargs)
                return self.forward(*args, **kwargs)
        finally:
            _call_counts.reset(token)

    def scope_base(self):
        """The scope label of this module's calls, before any ``#n`` call suffix."""
        cls = type(self).__name__
        return f"{self._scope_name}: {cls}" if self._scope_name else cls

    # --- attributes: parameters and submodules -----------------------------------------
    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            for path, item in _members(value, name):
                if isinstance(item, Variable):
                    _auto_name(item, path)
                else:
                    object.__setattr__(item, "_scope_name", path)
                    for sub, var in item.named_parameters():
                        _auto_name(var, f"{path}.{sub}")

    def _direct_members(self):
        """[(path, Variable or Module)] for this module's own public attributes."""
        # called whenever parameters or modules are listed: kept free of generator layers
        found = []
        for name, value in vars(self).items():
            if name[0] == "_":
                continue
            if isinstance(value, (Variable, Module)):
                found.append((name, value))
            elif isinstance(value, (list, tuple, dict)):
                found.extend(_members(value, name))
        return found

    def named_children(self):
        """[(path, module)] of the direct submodules, in attribute order."""
        return [(p, m) for p, m in self._direct_members() if isinstance(m, Module)]

    def children(self):
        """The direct submodules, in attribute order."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """[(dotted path, module)] of this module (``""`` or `prefix`) and all submodules,
        depth first, each module once (under its first path)."""
        result, seen = [], set()
        stack = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            result.append((path, module))
            kids = [(f"{path}.{p}" if path else p, m) for p, m in module.named_children()]
            stack.extend(reversed(kids))
        return result

    def modules(self):
        """This module and all its submodules, depth first, each once."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix="", recurse=True):
        """[(dotted name, Variable)] in PyTorch's order, each Variable once (under its
        first name): ``[("fc1.weight", w1), ("fc1.bias", b1), ...]``."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        result, seen = [], set()
        for path, module in modules:
            for name, item in module._direct_members():
                if isinstance(item, Variable) and id(item) not in seen:
                    seen.add(id(item))
                    result.append((f"{path}.{name}" if path else name, item))
        return result

    def parameters(self, recurse=True):
        """The parameters (Variables), in `named_parameters` order: a list, so it can be
        passed to both ``ad.grad`` and an optimiser."""
        return [v for _, v in self.named_parameters(recurse=recurse)]

    def _name_parameters(self):
        for path, var in self.named_parameters():
            _auto_name(var, path)

    # --- modes -------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``training = mode``) here and in every submodule; returns self."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off); the same as ``train(False)``. Returns self."""
        return self.train(False)

    # --- state -------------------------------------------------------------------------
    def state_dict(self):
        """{dotted name: copy of the value} for every parameter, in `named_parameters` order."""
        return {name: np.array(var.value, copy=True) for name, var in self.named_parameters()}

    def load_state_dict(self, state, strict=True):
        """Set parameter values from `state` (dotted name -> array).

        Every entry is checked before any parameter changes: with ``strict=True`` a missing
        or an unexpected name raises ValueError, and in every mode a wrong shape or a
        non-numeric array raises ValueError; the message lists all problems. Values are
        cast to each parameter's dtype. Returns ``IncompatibleKeys(missing, unexpected)``.
        """
        plan, result = self._plan_load(state, strict)
        for var, array in plan:
            var.value = array
        return result

    def _plan_load(self, state, strict, source=None):
        """Check `state` against the parameters; return ([(Variable, array)], keys)."""
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        unexpected = [name for name in state if name not in params]
        problems = []
        if strict and missing:
            problems.append("missing: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected: " + ", ".join(unexpected))
        plan = []
        for name, var in params.items():
            if name not in state:
                continue
            array = np.asarray(state[name])
            if array.dtype.kind not in "biuf":
                problems.append(f"{name}: dtype {array.dtype} is not numeric")
            elif array.shape != var.shape:
                problems.append(f"{name}: shape {array.shape} given, {var.shape} expected")
            else:
                plan.append((var, array))
        if problems:
            where = f" from {source}" if source else ""
            raise ValueError(f"{type(self).__name__}: cannot load state{where}: "
                             + "; ".join(problems) + ". No parameter was changed.")
        return plan, IncompatibleKeys(missing, unexpected)

    def save(self, path, optimizer=None):
        """Write the parameters (and `optimizer`'s state, if given) to `path` as ``.npz``.

        Entries are the dotted parameter names, plus ``"optimizer/<key>"`` for the
        optimiser. The file is replaced atomically: a crash or a kill during the save leaves
        the previous file intact.
        """
        arrays = self.state_dict()
        if optimizer is not None:
            arrays.update({OPTIMIZER_PREFIX + key: value
                           for key, value in optimizer.state_dict().items()})
        save_arrays(path, arrays)

    def load(self, path, optimizer=None, strict=True):
        """Read parameters (and `optimizer`'s state, if given) written by `save`.

        The file is read without unpickling; every name and shape (and the optimiser's
        state) is checked first, and on any problem ValueError is raised and nothing
        changes. Optimiser entries in the file are ignored when no optimiser is given.
        Returns ``IncompatibleKeys(missing, unexpected)``.
        """
        arrays = load_arrays(path)
        model_state = {k: v for k, v in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
        plan, result = self._plan_load(model_state, strict, source=path)
        apply_optimizer = None
        if optimizer is not None:
            opt_state = {k[len(OPTIMIZER_PREFIX):]: v for k, v in arrays.items()
                         if k.startswith(OPTIMIZER_PREFIX)}
            if not opt_state:
                raise ValueError(f"{path}: holds no optimizer state; nothing was changed")
            apply_optimizer = optimizer.prepare_load(opt_state)
        for var, array in plan:
            var.value = array
        if apply_optimizer is not None:
            apply_optimizer()
        return result

    # --- printing ------------------------------------------------------------------------
    def extra_repr(self):
        """The constructor settings shown inside ``repr`` (``in_features=4, ...``)."""
        return ""

    def __repr__(self):
        head = f"{type(self).__name__}({self.extra_repr()}"
        kids = self.named_children()
        if not kids:
            return head + ")"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in kids]
        return head + "\n" + "\n".join(lines) + "\n)"


# --- helpers ---------------------------------------------------------------------------

def _members(value, path):
    """(path, item) for every Variable or Module in `value` (itself, or inside lists,
    tuples and dicts with string or integer keys)."""
    if isinstance(value, (Variable, Module)):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _members(item, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, (str, int)):  # other keys make no dotted name: ignored
                yield from _members(item, f"{path}.{key}")


def _auto_name(var, path):
    """Name `var` by its dotted `path`, unless the user named it or it already has a
    longer path (``fc1.weight`` is not renamed ``weight`` when fc1 is called alone)."""
    current = var.name
    if current is None or (current == getattr(var, "_nn_path", None)
                           and path != current and path.endswith("." + current)):
        var.name = path
        var._nn_path = path


@records_derivation(all_results=True)  # inputs of new shapes rebuild the whole call
def _checkpointed_call(module, label, args, kwargs):
    """``module.forward(*args, **kwargs)`` as one `Checkpoint` node.

    Node arguments (also inside tuples, lists and dicts, such as an LSTM's ``(h, c)``)
    become the checkpoint's inputs; other arguments are passed through unchanged. Several
    output nodes are flattened and concatenated into the single node a checkpoint makes,
    then sliced back apart.
    """
    inputs, fill_inputs = _split_nodes((args, kwargs))
    tape = Tape()
    layout = []  # filled by the first build: (fill_outputs, (shape, dtype) of each output, single)

    def run(*nodes):
        call_args, call_kwargs = fill_inputs(nodes)
        token = _call_counts.set({})
        try:
            with tape.active():  # the rebuild replays the first build's random draws
                out = module.forward(*call_args, **call_kwargs)
        finally:
            _call_counts.reset(token)
        outs, fill_outputs = _split_nodes(out)
        if not outs:
            raise TypeError(f"{label}: a checkpointed forward must return nodes, got {out!r}")
        if not layout:
            layout.append((fill_outputs, describe_outputs(outs), isinstance(out, Node)))
        return out if isinstance(out, Node) else pack(outs)

    run.__name__ = label
    node = Checkpoint(run, *inputs, name=label)
    fill_outputs, described, single = layout[0]
    return node if single else fill_outputs(list(unpack(node, described)))


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _split_nodes(tree):
    """The nodes inside `tree` (nested tuples, lists, dicts) and a function that puts
    replacement nodes back in their places."""
    nodes = []

    def strip(x):
        if isinstance(x, Node):
            nodes.append(x)
            return _Slot(len(nodes) - 1)
        if isinstance(x, (list, tuple)):
            items = [strip(v) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()}
        return x

    skeleton = strip(tree)

    def fill(values):
        def put(x):
            if isinstance(x, _Slot):
                return values[x.index]
            if isinstance(x, (list, tuple)):
                items = [put(v) for v in x]
                return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
            if isinstance(x, dict):
                return {k: put(v) for k, v in x.items()}
            return x
        return put(skeleton)

    return nodes, fill
