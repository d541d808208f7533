"""Module, Parameter and Sequential (graphgrad/module.py).

The layers here are written inline from graphgrad ops, so these tests depend
only on the core, not on the built-in layer plugins.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd import topological_order
from graphgrad.nn import Module, Parameter, Sequential
from graphgrad.nn.parameter import resolve_initializer
from graphgrad.serialize import SerializationError


class Affine(Module):
    def __init__(self, n_in, n_out, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = Parameter(rng.standard_normal((n_in, n_out)).astype(np.float32))
        self.bias = Parameter(rng.standard_normal(n_out).astype(np.float32))

    def forward(self, x):
        return x @ self.weight + self.bias

    def extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"


class Act(Module):
    def forward(self, x):
        return gg.tanh(x)


class Stats(Module):
    """A module with a buffer, updated in training."""

    def __init__(self, n):
        super().__init__()
        self.scale = Parameter(np.ones(n, dtype=np.float32))
        self.register_buffer("seen", np.zeros(n, dtype=np.float32))

    def forward(self, x):
        if self.training:
            self.seen = self.seen + x.data.sum(axis=0)
        return x * self.scale


class Tree(Module):
    """Children in an attribute, a list, a dict and a nested module; one child reused."""

    def __init__(self):
        super().__init__()
        self.stem = Affine(3, 4, seed=1)
        self.blocks = [Affine(4, 4, seed=2), Act()]
        self.heads = {"a": Affine(4, 2, seed=3), "b": Affine(4, 2, seed=4)}
        self.inner = Sequential(Affine(2, 2, seed=5), Act())
        self.extra = [Parameter(np.ones(2, dtype=np.float32))]
        self.table = {"gain": Parameter(np.full(2, 2.0, dtype=np.float32))}

    def forward(self, x):
        h = self.blocks[1](self.stem(x))
        h = self.blocks[1](self.blocks[0](h))  # the Act child is reused
        y = self.heads["a"](h) + self.heads["b"](h)
        return self.inner(y) * self.extra[0] * self.table["gain"]


def _module_paths(y):
    return [node.module for node in topological_order([y.grad_fn])]


# ------------------------------------------------------------------- Parameter
def test_parameter_is_a_trainable_tensor():
    p = Parameter([1.0, 2.0])
    assert isinstance(p, gg.Tensor) and p.is_parameter and p.requires_grad
    assert p.dtype == np.float32
    assert not gg.tensor([1.0]).is_parameter
    assert "Parameter containing" in repr(p)


def test_parameter_initialized_from_name_class_object_and_callable():
    def halves(shape, rng):
        return np.full(shape, 0.5)

    a = Parameter.initialized((2, 3), init=halves)
    np.testing.assert_array_equal(a.data, np.full((2, 3), 0.5, dtype=np.float32))
    assert a.dtype == np.float32
    zeros_by_name = Parameter.initialized((4,), init="zeros", dtype="float64")
    assert zeros_by_name.dtype == np.float64 and not zeros_by_name.data.any()
    init_cls = gg.initializers.Constant
    by_class = Parameter.initialized((2,), init=init_cls)
    by_object = Parameter.initialized((2,), init=init_cls(3.0))
    np.testing.assert_array_equal(by_class.data, [0.0, 0.0])
    np.testing.assert_array_equal(by_object.data, [3.0, 3.0])


def test_parameter_initialized_is_reproducible_with_a_seed():
    a = Parameter.initialized((5, 4), "he_normal", rng=7)
    b = Parameter.initialized((5, 4), "he_normal", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.data, b.data)
    gg.manual_seed(3)
    c = Parameter.initialized((5, 4), "he_normal")
    gg.manual_seed(3)
    d = Parameter.initialized((5, 4), "he_normal")
    np.testing.assert_array_equal(c.data, d.data)


def test_initializer_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"returned an array of shape \(2,\)"):
        Parameter.initialized((3,), init=lambda shape, rng: np.zeros(2))
    with pytest.raises(KeyError, match="he_normal"):  # the known names are listed
        resolve_initializer("he_nromal")
    with pytest.raises(TypeError, match="initializer name"):
        resolve_initializer(3.0)


# ------------------------------------------------------------------- discovery
def test_parameters_are_discovered_from_attributes_lists_and_dicts():
    names = [n for n, _ in Tree().named_parameters()]
    assert names == [
        "extra.0", "table.gain",
        "stem.weight", "stem.bias",
        "blocks.0.weight", "blocks.0.bias",
        "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
        "inner.0.weight", "inner.0.bias",
    ]
    model = Tree()
    assert model.num_parameters() == sum(p.data.size for p in model.parameters())
    assert model.num_parameters() == 2 + 2 + (12 + 4) + (16 + 4) + 2 * (8 + 2) + (4 + 2)


def test_named_modules_and_children():
    model = Tree()
    assert [n for n, _ in model.named_modules()] == [
        "", "stem", "blocks.0", "blocks.1", "heads.a", "heads.b", "inner", "inner.0", "inner.1"
    ]
    assert [n for n, _ in model.named_children()] == [
        "stem", "blocks.0", "blocks.1", "heads.a", "heads.b", "inner"
    ]
    assert list(model.children())[0] is model.stem
    assert len(list(model.modules())) == 9


def test_shared_parameters_and_modules_are_listed_once():
    class Tied(Module):
        def __init__(self):
            super().__init__()
            self.enc = Affine(3, 3)
            self.dec = self.enc  # the same module under two names
            self.layers = [self.enc, Act()]

        def forward(self, x):
            return self.dec(self.enc(x))

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["enc.weight", "enc.bias"]
    assert [n for n, _ in model.named_children()] == ["enc", "layers.1"]
    assert model.num_parameters() == 12


def test_a_module_referring_to_its_parent_does_not_loop():
    parent = Sequential(Affine(2, 2))
    parent[0].owner = parent
    assert [n for n, _ in parent.named_modules()] == ["", "0"]


def test_module_without_super_init_still_works():
    class Lazy(Module):
        def __init__(self):
            self.w = Parameter([1.0, 2.0])

        def forward(self, x):
            return x * self.w

    m = Lazy()
    assert m.training and [n for n, _ in m.named_parameters()] == ["w"]
    m.register_buffer("count", np.zeros(1))
    assert "count" in m.state_dict()


# ------------------------------------------------------------- module scope
def test_every_node_records_the_dotted_path_of_its_module():
    model = Tree()
    y = model(gg.tensor(np.ones((2, 3), dtype=np.float32)))
    paths = {p for p, _ in _module_paths(y)}
    # Sequential "inner" creates no op itself; its children do
    assert paths == {"", "stem", "blocks.0", "blocks.1", "heads.a", "heads.b", "inner.0",
                     "inner.1"}
    types = dict(_module_paths(y))
    assert types["stem"] == "Affine" and types["inner.1"] == "Act" and types[""] == "Tree"


def test_reused_child_gets_the_same_path_each_call():
    act = Act()

    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.act = act

        def forward(self, x):
            return self.act(self.act(x) * 2.0)

    y = Twice()(gg.tensor([0.5], requires_grad=True))
    tanh_paths = [m for node, m in zip(topological_order([y.grad_fn]),
                                       _module_paths(y), strict=True)
                  if node.name == "Tanh"]
    assert tanh_paths == [("act", "Act"), ("act", "Act")]


def test_grandchild_called_directly_and_outside_module_get_paths():
    stranger = Act()

    class Deep(Module):
        def __init__(self):
            super().__init__()
            self.block = Sequential(Affine(2, 2))

        def forward(self, x):
            return stranger(self.block[0](x))  # skips Sequential.forward

    y = Deep()(gg.tensor([[1.0, 2.0]]))
    assert {p for p, _ in _module_paths(y)} == {"block.0", "Act"}


def test_nodes_outside_modules_have_no_module_and_the_stack_unwinds_on_error():
    class Boom(Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Sequential(Boom())(gg.tensor([1.0]))
    y = gg.tensor([1.0], requires_grad=True) * 2.0
    assert y.grad_fn.module is None
    z = Affine(1, 1)(gg.tensor([[1.0]]))
    assert z.grad_fn.module == ("", "Affine")  # a fresh root, not nested under Boom


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module subclass must implement forward"):
        Module()(gg.tensor([1.0]))


# --------------------------------------------------------------- modes, grads
def test_train_eval_zero_grad_and_requires_grad():
    model = Tree()
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(gg.tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert model.num_parameters(trainable_only=True) == 0
    assert model.num_parameters() > 0


def test_gradients_match_finite_differences_through_the_module():
    model = Tree().double()
    x = gg.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert gg.check.gradcheck(lambda x: model(x), [x])
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_astype_casts_parameters_and_float_buffers():
    m = Stats(3)
    m.register_buffer("steps", np.array(0, dtype=np.int64))
    m.double()
    assert m.scale.dtype == np.float64 and m.seen.dtype == np.float64
    assert m.steps.dtype == np.int64
    m.float()
    assert m.scale.dtype == np.float32 and m.seen.dtype == np.float32


# ---------------------------------------------------------------------- state
def test_state_dict_has_copies_of_parameters_and_buffers():
    m = Stats(2)
    m(gg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    state = m.state_dict()
    assert list(state) == ["scale", "seen"]
    np.testing.assert_array_equal(state["seen"], [4.0, 6.0])
    state["scale"][...] = 100.0
    assert m.scale.data[0] == 1.0


def test_load_state_dict_round_trip_in_place():
    a, b = Tree(), Tree()
    with gg.no_grad():
        for p in a.parameters():
            p.add_(1.5)
    weight = b.stem.weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.stem.weight is weight  # overwritten in place: optimizers keep working
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    x = gg.tensor(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_errors_name_missing_unexpected_and_mismatched_keys():
    m = Stats(2)
    state = m.state_dict()
    del state["seen"]
    state["bogus"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys .*\['seen'\].*unexpected keys .*"
                                         r"\['bogus'\].*strict=False"):
        m.load_state_dict(state)
    result = m.load_state_dict(state, strict=False)
    assert result.missing_keys == ["seen"] and result.unexpected_keys == ["bogus"]
    bad = m.state_dict()
    bad["scale"] = np.zeros(3)
    bad["seen"] = np.full(2, 9.0)
    with pytest.raises(ValueError, match=r"scale: state \(3,\) vs model \(2,\)"):
        m.load_state_dict(bad, strict=False)
    assert not m.seen.any()  # nothing was loaded: all-or-nothing


def test_save_and_load_through_npz(tmp_path):
    a, b = Tree(), Tree()
    with gg.no_grad():
        a.stem.weight.fill_(0.25)
    path = a.save(tmp_path / "tree.npz", meta={"epoch": 3})
    assert path == tmp_path / "tree.npz" and sorted(p.name for p in tmp_path.iterdir()) == [
        "tree.npz"]
    assert b.load(path) is b
    np.testing.assert_array_equal(b.stem.weight.data, np.full((3, 4), 0.25, dtype=np.float32))
    from graphgrad.serialize import load_npz

    _, meta = load_npz(path)
    assert meta["class"] == "Tree" and meta["epoch"] == 3
    assert meta["num_parameters"] == a.num_parameters()
    (tmp_path / "tree.npz").write_bytes(b"garbage")
    with pytest.raises(SerializationError, match="tree.npz"):
        b.load(path)


def test_save_refuses_nothing_and_load_refuses_a_wrong_model(tmp_path):
    path = Stats(2).save(tmp_path / "stats.npz")
    with pytest.raises(ValueError, match="missing keys"):
        Tree().load(path)


# ----------------------------------------------------------------------- repr
def test_repr_shows_structure_and_parameter_counts():
    text = repr(Sequential(Affine(3, 4), Act()))
    assert text.splitlines() == [
        "Sequential(",
        "  (0): Affine(3, 4)  # 16 parameters",
        "  (1): Act()",
        ")  # 16 parameters",
    ]


# ----------------------------------------------------------------- Sequential
def test_sequential_indexing_iteration_and_len():
    a, b, c = Affine(2, 3), Act(), Affine(3, 1)
    seq = Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c and seq["1"] is b
    tail = seq[1:]
    assert isinstance(tail, Sequential) and list(tail) == [b, c]
    assert [n for n, _ in tail.named_children()] == ["1", "2"]
    x = gg.tensor([[1.0, -1.0]])
    np.testing.assert_allclose(seq(x).data, c(b(a(x))).data)
    assert seq.append(Act()) is seq and len(seq) == 4
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_with_names_and_path_recording():
    seq = Sequential({"fc": Affine(2, 2), "act": Act()})
    assert seq["fc"] is seq[0]
    y = seq(gg.tensor([[1.0, 2.0]]))
    assert {p for p, _ in _module_paths(y)} == {"fc", "act"}
    tail = seq[1:]
    tail.append(Act())
    assert [n for n, _ in tail.named_children()] == ["act", "1"]


def test_sequential_errors():
    with pytest.raises(TypeError, match=r"item 1 is a type.*instantiate it"):
        Sequential(Act(), Act)
    with pytest.raises(ValueError, match="already used"):
        Sequential({"a": Act()}).append(Act(), name="a")
    with pytest.raises(KeyError, match="no layer named 'zz'"):
        Sequential(Act())["zz"]


def test_to_dot_groups_nodes_by_module():
    dot = Sequential({"fc": Affine(2, 2), "act": Act()}).to_dot(gg.tensor([[1.0, 2.0]]))
    assert "cluster" in dot.source and "fc.weight" in dot.source


# --------------------------------------------------------------- check.module
def test_check_module_passes_a_correct_module_with_parameters_in_lists_and_dicts():
    x = gg.tensor(np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32))
    model = Tree()
    before = model.state_dict()
    report = gg.check.module(model, x)
    assert report.ok, str(report)
    assert [i.name for i in report] == [
        "forward", "gradcheck[train]", "gradcheck[eval]", "parameter grads", "gradgradcheck",
        "float32 vs float64", "train/eval", "render"]
    assert "12 parameter(s)" in report["gradcheck[train]"].message
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert model.stem.weight.dtype == np.float32  # the checks ran on copies
    data = report.to_dict()
    assert data["ok"] and data["module"] == "Tree" and len(data["checks"]) == 8


class _WrongCube(gg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2.0 * x * x  # should be 3x²


def test_check_module_reports_each_kind_of_bug():
    class Buggy(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.full(3, 0.5, dtype=np.float32))
            self.unused = Parameter(np.ones(2, dtype=np.float32))

        def forward(self, x):
            return _WrongCube.apply(x * self.w) + np.ones(3)  # float64 constant promotes

    report = gg.check.module(Buggy(), gg.tensor(np.ones((2, 3), dtype=np.float32)))
    assert not report.ok
    assert report["gradcheck[train]"].status == "fail"
    assert "analytic" in report["gradcheck[train]"].message
    assert report["parameter grads"].status == "fail"
    assert "unused" in report["parameter grads"].message
    assert report["float32 vs float64"].status == "fail"
    assert "float64" in report["float32 vs float64"].message
    assert report["train/eval"].status == "pass"
    assert str(report).startswith("check.module(Buggy): FAILED gradcheck[train]")


def test_check_module_checks_declared_randomness_and_skips():
    class Noisy(Module):
        stochastic = False  # wrong: it is random in training

        def forward(self, x):
            if self.training:
                return x + gg.tensor(np.random.default_rng().standard_normal(x.shape))
            return x

    report = gg.check.module(Noisy(), gg.tensor(np.ones((2, 2))))
    assert report["train/eval"].status == "fail"
    assert "stochastic = True" in report["train/eval"].message

    class Honest(Module):
        stochastic = True
        skip_checks = {"gradgradcheck": "not twice differentiable, by design"}

        def forward(self, x):
            noise = gg.random.resolve_rng(None).standard_normal(x.shape)
            return x * 2.0 + noise.astype(x.dtype) if self.training else x * 2.0

    report = gg.check.module(Honest(), gg.tensor(np.ones((2, 2), dtype=np.float32)))
    assert report.ok, str(report)
    assert report["gradgradcheck"].status == "skip"
    assert "by design" in report["gradgradcheck"].message


def test_check_module_stops_after_a_failing_forward_and_restores_the_global_rng():
    class Broken(Module):
        def forward(self, x):
            raise ValueError("shape trouble")

    gg.manual_seed(5)
    expected = np.random.default_rng(5).random()
    report = gg.check.module(Broken(), gg.tensor([1.0]))
    assert report["forward"].status == "fail" and "shape trouble" in report["forward"].message
    assert all(i.status == "skip" for i in report.items[1:])
    assert gg.random.default_rng().random() == expected
    with pytest.raises(TypeError, match="example_input"):
        gg.check.module(Act())
    with pytest.raises(TypeError, match="instantiate"):
        gg.check.module(Act, gg.tensor([1.0]))
