"""Operand layouts the planner chooses: products against a transposed matrix.

The backward pass through ``x @ W`` multiplies the cotangent by ``W.T`` (an einsum
``ik,jk->ij``), once per time step in a recurrent network. BLAS multiplies a row-major
right operand markedly faster than a transposed one (about 1.7x for a (32, 100) by
(100, 100) product), so when one matrix is read that way by several derivative products,
the plan makes a row-major copy of its transpose once per call (`TransposedCopy`) and
runs those products as plain ones on it. Only products a derivative transform built are
changed: what the user wrote runs as written, bit for bit.
"""
import numpy as np

from ..core.node import Node
from ..ops.einsum import Einsum

#: A matrix read transposed by at least this many products gets a transposed copy (the
#: copy costs about as much as one product saves).
MIN_TRANSPOSED_READS = 2
#: ...and only a matrix of at most this many elements: the gain is in small products,
#: which BLAS runs at a fraction of its speed on a transposed operand; from about 256 x
#: 256 on, a copy costs more than the products it speeds up save (and the memory).
MAX_COPIED_ELEMENTS = 128 * 128


class TransposedCopy(Node):
    """A row-major copy of a matrix's transpose. The planner makes it (users have
    ``ad.transpose``, a view) for `matrices_read_transposed`."""

    op_label = "transposed copy"
    arity = 1
    elementwise = False
    finite = True

    def infer_shape(self, shape):
        return shape[::-1]

    def infer_dtype(self, dtype):
        return dtype

    def forward(self, matrix):
        return np.ascontiguousarray(matrix.T)


def product_with_transposed(node):
    """Whether `node` is a derivative's matrix product ``a @ b.T`` of 2-D operands of its
    own floating dtype (run directly as ``np.dot(a, b.T)``, see `matrix_product_kernel`)."""
    if not isinstance(node, Einsum) or node.derivative_of is None \
            or node.spec.matrix_kernel is None or len(node.children) != 2:
        return False
    labels_a, labels_b = node.inputs
    if len(labels_a) != 2 or len(labels_b) != 2:
        return False
    (i, k), (j, k2) = labels_a, labels_b
    a, b = node.children
    return k == k2 and node.output == i + j and len({i, j, k}) == 3 \
        and a.dtype == b.dtype == node.dtype and node.dtype.kind in "fc"


def matrices_read_transposed(order):
    """Ids of the matrices (of at most `MAX_COPIED_ELEMENTS`) that at least
    `MIN_TRANSPOSED_READS` derivative products in `order` read transposed."""
    reads = {}
    for node in order:
        if product_with_transposed(node) and node.children[1].size <= MAX_COPIED_ELEMENTS:
            k = id(node.children[1])
            reads[k] = reads.get(k, 0) + 1
    return {k for k, n in reads.items() if n >= MIN_TRANSPOSED_READS}
