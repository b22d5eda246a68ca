"""`Sequential`: modules applied in order, named ``"0"``, ``"1"``, ... as in PyTorch."""
from ..module import Module


class Sequential(Module):
    """Modules applied in order: ``Sequential(m0, m1, ...)(x)`` is ``... m1(m0(x))``.

    ``Sequential(m0, m1, ...)`` names the modules by position, ``Sequential({"name": m,
    ...})`` by the given names. Submodules are attributes under those names, so parameter
    names match PyTorch's (``"0.weight"``) and scopes read ``"0: Linear"``. Supports
    ``len``, iteration, ``seq[i]`` (``seq[a:b]`` gives a new Sequential sharing the
    modules) and `append`.

    >>> model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> model[0]
    Linear(in_features=2, out_features=4, bias=True)
    >>> len(model)
    3

    Args:
        modules: the modules in order, or one dict of name -> module.
        checkpoint: make each call one checkpoint node (see `Module`).
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
