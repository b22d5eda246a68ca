"""Text views of a graph: `pretty` (infix, shared subexpressions named once),
`format_graph` (one node a line in topological order, for graphs too big to draw),
`print_graph`, which prints that listing, and `node_repr`, a node's repr."""
import numpy as np

from ..core.node import Node, Variable, Constant
from ..core.traversal import topo_sort
from ..ops import arithmetic as ar, elementary as el, logic as lg
from ..ops.einsum import Einsum
from ..ops.einsum import MatMul, Transpose
from .dot import as_outputs

# precedence: higher binds tighter
_CMP, _SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(6)

_INFIX = {  # op class -> (symbol, precedence)
    ar.Add: (" + ", _SUM), ar.Subtract: (" - ", _SUM),
    ar.Mul: ("*", _PRODUCT), ar.Divide: ("/", _PRODUCT), MatMul: (" @ ", _PRODUCT),
    el.Pow: ("**", _POWER),
    lg.Less: (" < ", _CMP), lg.LessEqual: (" <= ", _CMP), lg.Greater: (" > ", _CMP),
    lg.GreaterEqual: (" >= ", _CMP), lg.Equal: (" == ", _CMP),
}


def pretty(nodes):
    """The expression of `nodes` in infix form, e.g. ``x*y + exp(x + 3)``.

    A non-leaf node used more than once is named once (``t1 = tanh(x); (1 - t1**2)*g``).
    Several nodes give one expression per output, separated by semicolons. Products with
    an exact 1 (the seeds `grad` starts from) are printed as the other factor.
    """
    outputs = [nodes] if isinstance(nodes, Node) else list(nodes)
    order = topo_sort(outputs)
    uses = {}
    for node in order:
        for child in node.children:
            uses[id(child)] = uses.get(id(child), 0) + 1
    text, bindings, counter = {}, [], 0
    for node in order:
        expr, prec = _format(node, text)
        shared = uses.get(id(node), 0) > 1 and node.children and node not in outputs
        if shared:
            counter += 1
            name = node.name or f"t{counter}"
            bindings.append(f"{name} = {expr}")
            text[id(node)] = (name, _ATOM)
        else:
            text[id(node)] = (expr, prec)
    return "; ".join(bindings + [text[id(o)][0] for o in outputs])


#: A node's repr shows its expression when the graph has at most this many nodes ...
REPR_MAX_NODES = 24
#: ... and the expression at most this many characters.
REPR_MAX_CHARS = 72


def node_repr(node):
    """``<Add z: x*y + exp(x + 3), shape=() float64>``: op, name, a short expression (for
    small graphs) and shape; a node `ad.grad` returned says what it is the derivative of:
    ``<grad of z wrt x: exp(x + 3) + y, shape=() float64>``."""
    pairs = node.gradient_of
    if pairs:
        head = "grad of " + ", ".join(f"{_label(y)} wrt {_label(w)}" for y, w in pairs)
    else:
        head = type(node).__name__ + (f" {node.name}" if node.name else "")
    expression = _short_expression(node) if node.children else None
    body = f": {expression}, " if expression else ", " if pairs else " "
    return f"<{head}{body}shape={node.shape} {node.dtype}>"


def _label(node):
    """A node's name, else what it is the gradient of, else its short expression, else
    its op."""
    if not node.name and node.gradient_of:
        return "(grad of " + ", ".join(f"{_label(y)} wrt {_label(w)}"
                                       for y, w in node.gradient_of) + ")"
    return node.name or _short_expression(node, 32) or f"<{type(node).__name__}>"


def _short_expression(node, max_chars=REPR_MAX_CHARS):
    """`pretty(node)` when the graph is small and the text short, else None."""
    if not _at_most(node, REPR_MAX_NODES):
        return None
    text = pretty(node)
    return text if len(text) <= max_chars else None


def _at_most(node, limit):
    """Whether the graph under `node` has at most `limit` nodes (stops counting there)."""
    seen, stack = {id(node)}, [node]
    while stack:
        for child in stack.pop().children:
            if id(child) not in seen:
                seen.add(id(child))
                if len(seen) > limit:
                    return False
                stack.append(child)
    return True


def _leaf_text(node):
    if isinstance(node, Constant):
        value = node.value
        if value.size == 1:
            v = value.item()
            return (repr(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)), \
                _ATOM if v >= 0 else _UNARY
        return f"const{node.shape}", _ATOM
    return node.name or f"<{type(node).__name__}{node.shape}>", _ATOM


def _is_one(node):
    return isinstance(node, Constant) and node.value.size > 0 and bool(np.all(node.value == 1))


def _format(node, text):
    if not node.children:
        return _leaf_text(node)

    def arg(child, prec, right=False):
        s, p = text[id(child)]
        return f"({s})" if p < prec or (right and p == prec) else s

    cls = type(node)
    if cls is ar.Mul:  # 1*a is a, bit for bit: the seeds of `grad` need not be read
        a, b = node.children
        for one, other in ((a, b), (b, a)):
            if _is_one(one) and other.shape == node.shape:
                return text[id(other)]
    if cls in _INFIX:
        symbol, prec = _INFIX[cls]
        if cls is el.Pow:  # right-associative
            return arg(node.children[0], prec + 1) + symbol + arg(node.children[1], prec), prec
        parts = [arg(node.children[0], prec)] + [arg(c, prec, right=True)
                                                 for c in node.children[1:]]
        if cls is ar.Add and len(parts) > 1:  # a + -b reads as a - b
            return symbol.join(parts).replace("+ -", "- "), prec
        return symbol.join(parts), prec
    if cls is ar.Negate:
        return "-" + arg(node.children[0], _UNARY + 1), _UNARY
    if cls is Transpose:
        return arg(node.children[0], _ATOM) + ".T", _ATOM
    args = [text[id(c)][0] for c in node.children]
    if isinstance(node, Einsum):
        return f"einsum({node.op_str!r}, {', '.join(args)})", _ATOM
    params = [f"{k}={v!r}" for k, v in node.params.items() if k != "strong_zero"]
    return f"{node.label}({', '.join(args + params)})", _ATOM


def format_graph(nodes):
    """The listing `print_graph` prints, as a string: one node a line in topological order
    (like a jaxpr), then ``return`` and the output slots.

    ``%3 = tanh %2    # (3,) float64``: each line names the node's slot, its op, its
    inputs' slots and parameters, and its shape, dtype and name.
    """
    outputs = as_outputs(nodes, "format_graph")
    order = topo_sort(outputs)
    slot = {id(n): i for i, n in enumerate(order)}
    lines = []
    for i, node in enumerate(order):
        if isinstance(node, Variable):
            rhs = "Variable"
        elif isinstance(node, Constant):
            rhs = "Constant " + (repr(node.value.tolist()) if node.value.size <= 4 else "...")
        else:
            params = " ".join(f"{k}={v!r}" for k, v in node.params.items())
            rhs = " ".join([node.label] + [f"%{slot[id(c)]}" for c in node.children]
                           + ([params] if params else []))
        name = f" {node.name}" if node.name else ""
        lines.append(f"%{i} = {rhs}    # {node.shape} {node.dtype}{name}")
    lines.append("return " + ", ".join(f"%{slot[id(o)]}" for o in outputs))
    return "\n".join(lines)


def print_graph(nodes, file=None):
    """Print the listing of `format_graph` (to `file`, default stdout); returns None, so an
    interactive session does not echo it twice."""
    print(format_graph(nodes), file=file)
