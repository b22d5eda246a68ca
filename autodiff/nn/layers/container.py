"""`Sequential`: modules applied in order, named ``"0"``, ``"1"``, ... as in PyTorch."""
from ..module import Module


class Sequential(Module):
    """``Sequential(m0, m1, ...)`` or ``Sequential({"name": m, ...})``: x -> ... m1(m0(x)).

    Submodules are attributes named by position (or by the given names), so parameter
    names match PyTorch's (``"0.weight"``) and scopes read ``"0: Linear"``. Supports
    ``len``, iteration, ``seq[i]`` (``seq[a:b]`` gives a new Sequential sharing the
    modules) and ``append``.
    """

    def __init__(self, *modules, checkpoint=False):
        super().__init__(checkpoint=checkpoint)
        self._names = []
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in items:
            self._add(str(name), module)

    def _add(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: {module!r} is not a Module")
        if name in self._names or not name or name.startswith("_") or "." in name \
                or hasattr(type(self), name):
            raise ValueError(f"Sequential: invalid or repeated name {name!r}")
        self._names.append(name)
        setattr(self, name, module)

    def append(self, module):
        """Add `module` at the end (named by its position); returns self."""
        self._add(str(len(self._names)), module)
        return self

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        return (getattr(self, name) for name in self._names)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*[getattr(self, n) for n in self._names[index]])
        return getattr(self, self._names[index])

    def forward(self, x):
        """Apply each module in turn."""
        for module in self:
            x = module(x)
        return x
