"""A list or tuple of Tensors given to an op keeps its gradient (issue 27, severity 1).

NumPy would read each Tensor through __array__ and detach it; graphgrad stacks
them along a new first axis with a gradient, as np.asarray would stack them.
"""

import numpy as np
import pytest

import graphgrad as gg


def test_mean_of_a_list_of_tensors_keeps_the_gradient():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    (gg.mean([x, x * 2]) + x.sum()).backward()
    # mean over 4 values of (x, 2x): d/dx = (1 + 2)/4 per element, plus 1 from sum
    np.testing.assert_allclose(x.grad.data, [1.75, 1.75])


def test_std_of_a_tuple_mixing_tensors_and_numbers_matches_closed_form():
    x = gg.tensor(1.0, requires_grad=True)
    y = gg.std((x, 2.0, 3.0))
    np.testing.assert_allclose(y.data, np.std([1.0, 2.0, 3.0]), rtol=1e-6)
    y.backward()
    # d std / d x1 = (x1 - mean) / (n * std)
    np.testing.assert_allclose(x.grad.data, (1 - 2) / (3 * np.std([1.0, 2.0, 3.0])), rtol=1e-5)


def test_binary_op_with_a_list_of_tensors_on_either_side():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    out = gg.maximum([x, 3 * x], [[0.0, 5.0], [0.0, 0.0]])
    out.sum().backward()
    np.testing.assert_allclose(out.data, [[1, 5], [3, 6]])
    np.testing.assert_allclose(x.grad.data, [1 + 3, 0 + 3])


def test_where_with_a_nested_list_of_tensors():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    gg.where([[True, False], [False, True]], [x, 3 * x], 0.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 3.0])


def test_finite_differences_agree_for_var_of_a_list():
    x0 = np.array([0.3, -1.2, 2.0])
    x = gg.tensor(x0, requires_grad=True)
    gg.var([x, x ** 2]).backward()
    eps = 1e-6
    fd = [(np.var([x0 + eps * e, (x0 + eps * e) ** 2]) - np.var([x0 - eps * e, (x0 - eps * e) ** 2]))
          / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(x.grad.data, fd, rtol=1e-5)


def test_scatter_src_given_as_a_list_of_tensors_keeps_the_gradient():
    x = gg.zeros(3)
    s = gg.tensor(2.0, requires_grad=True)
    gg.scatter(x, 0, gg.tensor([0, 2]), [s, s * 4]).sum().backward()
    np.testing.assert_allclose(s.grad.data, 5.0)


def test_ragged_list_of_tensors_says_what_to_do():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="gg.stack"):
        gg.mean([x, gg.tensor([1.0, 2.0, 3.0])])
