"""Optimisers with PyTorch's update rules, over numpy gradient values.

The contract (gradients in, parameters updated in place, PyTorch's algorithms and
defaults, hyperparameters as attributes) is in the docstring of `Optimizer`.
``state_dict()`` is a flat dict of numpy arrays (``"type"``, ``"hyper.<name>"``,
``"state.<i>.<buffer>"``), so it saves in the same ``.npz`` as the model
(``model.save(path, optimizer=opt)``); ``load_state_dict`` checks it completely before
changing anything, and training resumes exactly.
"""
import numpy as np

from ..core.node import Variable
from ..ops.functions import equal, maximum, sqrt, where


class Optimizer:
    """Base class of the optimisers: parameter list, per-parameter state, checked `step`,
    state saved and loaded as numpy arrays.

    ``opt.step(grads)`` takes one gradient value (a numpy array, or None to skip that
    parameter) per parameter, in the order of `params`, and updates each
    ``param.value`` in place (arrays previously read from ``param.value`` see the change,
    as with PyTorch's ``.data``). Every gradient is checked before any parameter changes.
    Each rule is PyTorch's single-tensor algorithm with the same defaults, in the same
    order of floating-point operations, so trajectories agree with ``torch.optim`` to
    rounding. Hyperparameters are attributes (``opt.lr = 1e-4`` changes the learning
    rate).

    >>> w = ad.Variable(np.array([1.0, -2.0]), name="w")
    >>> opt = nn.SGD([w], lr=0.1)
    >>> loss = ad.sum(w ** 2)
    >>> opt.step([g() for g in ad.grad(loss, [w])])
    >>> w.value
    array([ 0.8, -1.6])

    A subclass lists its `hyperparameters` (constructor keywords, in order) and its
    per-parameter `buffers` (arrays shaped like the parameter), and writes `update`.

    Args:
        params: the parameters (`Variable` objects), such as ``model.parameters()``.
        **hyper: the hyperparameters, stored as attributes.
    """

    hyperparameters = ()
    buffers = ()

    def __init__(self, params, **hyper):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Variable):
                raise TypeError(f"{type(self).__name__}: parameter {i} is {p!r}, not a Variable")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears more than once")
        for name, value in hyper.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        self.params = params
        for name, value in hyper.items():
            setattr(self, name, value)
        self.state = [{} for _ in params]  # per parameter: "step" (int) and buffers

    def step(self, grads):
        """Update every parameter from its gradient value (None: leave it unchanged)."""
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{type(self).__name__}.step: got {len(grads)} gradients for "
                             f"{len(self.params)} parameters")
        work = []
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            g = np.asarray(g)
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient {i} has shape "
                                 f"{g.shape}, parameter {p.describe()} has shape {p.shape}")
            if np.may_share_memory(g, p.value):  # the parameter changes in place below
                g = g.copy()
            if any(isinstance(v, Variable) for v in self.state[i].values()):
                raise RuntimeError(f"{type(self).__name__}.step: this optimiser's state is "
                                   f"updated by a compiled function (opt.updates); step "
                                   f"through that function, or make a new optimiser")
            work.append((p.value, g.astype(p.dtype, copy=False), self.state[i]))
        for param, grad, state in work:
            self.update(param, grad, state)

    def update(self, param, grad, state):
        """Update the array `param` in place from `grad`, reading and writing `state` (a
        dict of this parameter's buffers and step count); subclasses define it."""
        raise NotImplementedError

    # --- the same step as graph nodes ---------------------------------------------------
    def updates(self, grads):
        """The optimiser's step as graph nodes: ``{parameter: its new value, state Variable:
        its new value}`` for ``ad.function(..., updates=opt.updates(grads))``, so that the
        forward pass, the gradients and the update run as one call (on the jax backend, one
        program with the parameters kept on the device).

        `grads` are gradient nodes (or None), one per parameter. The optimiser's buffers
        and step counts become Variables updated by that function; its `state_dict` reads
        them, and `step` is then refused (one optimiser, one way of stepping).
        """
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"{type(self).__name__}.updates: got {len(grads)} gradients for "
                             f"{len(self.params)} parameters")
        result = {}
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.updates: gradient {i} has shape "
                                 f"{g.shape}, parameter {p.describe()} has shape {p.shape}")
            state = self._graph_state(i)
            new_param, new_state = self.update_graph(p, g, state)
            result[p] = new_param
            result.update({state[name]: value for name, value in new_state.items()})
        return result

    def update_graph(self, param, grad, state):
        """(new parameter node, {buffer name: new value node}) from the nodes `param` and
        `grad` and the Variables of `state`; subclasses define it after `update`."""
        raise NotImplementedError(f"{type(self).__name__} has no update graph")

    def initial_state(self, param):
        """{buffer name: initial array} of a parameter's state before its first step."""
        return {}

    def _graph_state(self, i):
        """The Variables holding parameter `i`'s state for `update_graph` (made from its
        current numpy state, or the initial one, on first use)."""
        state = self.state[i]
        if state and all(isinstance(v, Variable) for v in state.values()):
            return state
        param = self.params[i]
        arrays = self.initial_state(param.value)
        arrays.update({k: v for k, v in state.items() if k != "step"})
        arrays["step"] = np.array(float(state.get("step", 0)))
        name = param.name or f"param{i}"
        self.state[i] = {k: Variable(v, name=f"{name}.{k}") for k, v in arrays.items()}
        return self.state[i]

    # --- state -------------------------------------------------------------------------
    def state_dict(self):
        """The optimiser's state as a flat dict of numpy arrays (copies)."""
        out = {"type": np.array(type(self).__name__)}
        for name in self.hyperparameters:
            out[f"hyper.{name}"] = np.array(getattr(self, name))
        for i, state in enumerate(self.state):
            for key, value in state.items():
                if isinstance(value, Variable):  # state updated inside a compiled function
                    value = int(value.value) if key == "step" else value.value
                out[f"state.{i}.{key}"] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state):
        """Restore a `state_dict` (hyperparameters and buffers); raises ValueError, changing
        nothing, if it belongs to another optimiser type or other parameters."""
        self.prepare_load(state)()

    def prepare_load(self, state):
        """Check `state` completely; return a function that applies it (used by
        ``Module.load`` to check the model and the optimiser before changing either)."""
        me = type(self).__name__
        problems = []
        kind = state.get("type")
        if kind is None or str(np.asarray(kind)) != me:
            problems.append(f"it is the state of {kind!s}, not of {me}")
        hyper = {}
        for name in self.hyperparameters:
            if f"hyper.{name}" not in state:
                problems.append(f"hyperparameter {name!r} is missing")
                continue
            value = np.asarray(state[f"hyper.{name}"])
            if value.dtype.kind not in "biuf" or value.shape != np.shape(getattr(self, name)):
                problems.append(f"hyperparameter {name!r} has the wrong shape or type")
                continue
            hyper[name] = _like(getattr(self, name), value)
        per_param = [{} for _ in self.params]
        for key, value in state.items():
            if key == "type" or (key.startswith("hyper.") and key[6:] in self.hyperparameters):
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() \
                    or parts[2] not in self.buffers + ("step",):
                problems.append(f"unexpected entry {key!r}")
                continue
            i, buffer = int(parts[1]), parts[2]
            if i >= len(self.params):
                problems.append(f"{key!r}: there are only {len(self.params)} parameters")
                continue
            value = np.asarray(value)
            want = () if buffer == "step" else self.params[i].shape
            if value.dtype.kind not in "biuf" or value.shape != want:
                problems.append(f"{key!r}: shape {value.shape}, expected {want}")
                continue
            per_param[i][buffer] = int(value) if buffer == "step" else \
                np.array(value, dtype=self.params[i].dtype)
        if problems:
            raise ValueError(f"{me}: cannot load optimizer state: " + "; ".join(problems)
                             + ". Nothing was changed.")

        def apply():
            for name, value in hyper.items():
                setattr(self, name, value)
            for i, loaded in enumerate(per_param):
                held = self.state[i]
                if held and all(isinstance(v, Variable) for v in held.values()):
                    for key, var in held.items():  # the compiled function's Variables
                        var.value = loaded.get(key, 0.0 if key == "step" else
                                               self.initial_state(var.value)[key])
                else:
                    self.state[i] = loaded
        return apply

    def __repr__(self):
        settings = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


def _like(current, value):
    """`value` (a numpy array from a state dict) as the Python type of `current`."""
    if isinstance(current, tuple):
        return tuple(float(v) for v in value)
    if isinstance(current, bool):
        return bool(value)
    if isinstance(current, int):
        return int(value)
    return float(value)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``::

        g = grad + weight_decay * p
        b = g on the first step, then b = momentum * b + (1 - dampening) * g   (with momentum)
        g = g + momentum * b (Nesterov) or g = b                               (with momentum)
        p = p - lr * g

    Args:
        params: the parameters (`Variable` objects).
        lr: the learning rate.
        momentum: the momentum factor (0: none).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and no dampening).
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    buffers = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        super().__init__(params, lr=float(lr), momentum=float(momentum),
                         dampening=float(dampening), weight_decay=float(weight_decay),
                         nesterov=bool(nesterov))

    def update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, copy=True)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param -= self.lr * grad

    def initial_state(self, param):
        return {"momentum_buffer": np.zeros_like(param)} if self.momentum else {}

    def update_graph(self, param, grad, state):
        new = {"step": state["step"] + 1}
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buf = state["momentum_buffer"]
            buf = where(equal(state["step"], 0), grad,
                        buf * self.momentum + (1 - self.dampening) * grad)
            new["momentum_buffer"] = buf
            grad = grad + self.momentum * buf if self.nesterov else buf
        return param - self.lr * grad, new


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: at step t, with ``g = grad + weight_decay * p``::

        G += g * g
        p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(G) + eps)

    Args:
        params: the parameters (`Variable` objects).
        lr: the learning rate.
        lr_decay: decay of the learning rate with the step count.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: the starting value of G.
        eps: added to the denominator, for stability.
    """

    hyperparameters = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    buffers = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, lr=float(lr), lr_decay=float(lr_decay),
                         weight_decay=float(weight_decay),
                         initial_accumulator_value=float(initial_accumulator_value),
                         eps=float(eps))

    def update(self, param, grad, state):
        if "sum" not in state:
            state["sum"] = np.full_like(param, self.initial_accumulator_value)
        state["step"] = step = state.get("step", 0) + 1
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        clr = self.lr / (1 + (step - 1) * self.lr_decay)
        state["sum"] += grad * grad
        std = np.sqrt(state["sum"]) + self.eps
        param -= clr * (grad / std)

    def initial_state(self, param):
        return {"sum": np.full_like(param, self.initial_accumulator_value)}

    def update_graph(self, param, grad, state):
        step = state["step"] + 1
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        clr = self.lr / (1 + (step - 1) * self.lr_decay) if self.lr_decay else self.lr
        total = state["sum"] + grad * grad
        std = sqrt(total) + self.eps
        return param - clr * (grad / std), {"sum": total, "step": step}


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: with ``g = grad + weight_decay * p``::

        v = alpha * v + (1 - alpha) * g * g
        d = sqrt(v - m * m if centered else v) + eps      (m: the running mean of g)
        p -= lr * g / d                                   (through a momentum buffer if set)

    Args:
        params: the parameters (`Variable` objects).
        lr: the learning rate.
        alpha: the smoothing constant of the running averages.
        eps: added to the denominator, for stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: the momentum factor (0: none).
        centered: normalise by the estimated variance of the gradient instead of its
            second moment.
    """

    hyperparameters = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False):
        super().__init__(params, lr=float(lr), alpha=float(alpha), eps=float(eps),
                         weight_decay=float(weight_decay), momentum=float(momentum),
                         centered=bool(centered))

    def update(self, param, grad, state):
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(param)
            if self.momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if self.centered:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] = state.get("step", 0) + 1
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        square_avg += (1 - self.alpha) * (grad * grad)
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - self.alpha) * (grad - grad_avg)  # PyTorch's lerp
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            avg = np.sqrt(square_avg) + self.eps
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += grad / avg
            param -= self.lr * buf
        else:
            param -= self.lr * (grad / avg)

    def initial_state(self, param):
        state = {"square_avg": np.zeros_like(param)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if self.centered:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def update_graph(self, param, grad, state):
        new = {"step": state["step"] + 1}
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        square_avg = state["square_avg"] * self.alpha + (1 - self.alpha) * (grad * grad)
        new["square_avg"] = square_avg
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg = grad_avg + (1 - self.alpha) * (grad - grad_avg)
            new["grad_avg"] = grad_avg
            avg = sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            avg = sqrt(square_avg) + self.eps
        if self.momentum > 0:
            buf = state["momentum_buffer"] * self.momentum + grad / avg
            new["momentum_buffer"] = buf
            return param - self.lr * buf, new
        return param - self.lr * (grad / avg), new


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``, with PyTorch's form of the bias correction::

        g = grad + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    With `amsgrad`, v in the last line is replaced by the running maximum of v.

    Args:
        params: the parameters (`Variable` objects).
        lr: the learning rate.
        betas: (b1, b2), the decay rates of the running averages of g and g * g.
        eps: added to the denominator, for stability.
        weight_decay: L2 penalty added to the gradient.
        amsgrad: use the running maximum of v (the AMSGrad variant).
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        b1, b2 = (float(b) for b in betas)
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        super().__init__(params, lr=float(lr), betas=(b1, b2), eps=float(eps),
                         weight_decay=float(weight_decay), amsgrad=bool(amsgrad))

    def update(self, param, grad, state):
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] = step = state.get("step", 0) + 1
        beta1, beta2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                param *= 1 - self.lr * self.weight_decay
            else:
                grad = grad + self.weight_decay * param
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)  # PyTorch's lerp
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * (grad * grad)
        step_size = self.lr / (1 - beta1 ** step)
        correction2_sqrt = np.sqrt(1 - beta2 ** step)
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        denom = np.sqrt(second) / correction2_sqrt + self.eps
        param -= step_size * (exp_avg / denom)

    def initial_state(self, param):
        state = {"exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def update_graph(self, param, grad, state):
        step = state["step"] + 1
        new = {"step": step}
        beta1, beta2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                param_in = param * (1 - self.lr * self.weight_decay)
            else:
                grad = grad + self.weight_decay * param
        if not (self.weight_decay and self.decoupled):
            param_in = param
        exp_avg = state["exp_avg"] + (1 - beta1) * (grad - state["exp_avg"])
        exp_avg_sq = state["exp_avg_sq"] * beta2 + (1 - beta2) * (grad * grad)
        new.update(exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
        step_size = self.lr / (1 - beta1 ** step)
        correction2_sqrt = sqrt(1 - beta2 ** step)
        second = exp_avg_sq
        if self.amsgrad:
            second = new["max_exp_avg_sq"] = maximum(state["max_exp_avg_sq"], exp_avg_sq)
        denom = sqrt(second) / correction2_sqrt + self.eps
        return param_in - step_size * (exp_avg / denom), new


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Before each `Adam` step (without weight decay in the gradient), ``p *= 1 - lr *
    weight_decay``. The arguments are Adam's; `weight_decay` defaults to 1e-2.
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
