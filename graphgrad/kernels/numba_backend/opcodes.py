"""Operation codes shared by the Numba kernels and their Python wrappers.

One loop serves a family of operations (``binary_rows(op, a, b, out)``): the
code is a loop-invariant integer, so LLVM unswitches the loop into one
specialised, vectorised copy per operation, and a family compiles once per
dtype instead of once per operation.  This module is plain Python (no numba),
so the wrappers can use the codes without importing the kernels.
"""

# fused backward: out = g · f'(·) from a saved value
TANH_BACKWARD, SIGMOID_BACKWARD, RELU_BACKWARD, LEAKY_RELU_BACKWARD = range(4)
# binary: out = a ∘ b;  RSUB/RDIV are b − a and b / a (for a broadcast first operand)
ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, RSUB, RDIV = range(8)
# the binary code to use when the operands are swapped
SWAPPED = {ADD: ADD, SUB: RSUB, MUL: MUL, DIV: RDIV, MAXIMUM: MAXIMUM, MINIMUM: MINIMUM,
           RSUB: SUB, RDIV: DIV}
