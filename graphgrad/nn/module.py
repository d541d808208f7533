"""Module, Parameter and Sequential: the PyTorch-style way to hold a model's state.

A ``Module`` holds ``Parameter`` s (trainable Tensors), buffers (non-trainable
arrays such as batch-norm running statistics) and child modules.  Nothing has
to be registered: parameters and children are discovered from the instance's
attributes, including lists, tuples and dicts of them, and named with dotted
paths (``fc1.weight``, ``blocks.0.bias``, ``heads.cls.weight``).

Calling a module runs ``forward`` inside ``graphgrad.autograd.module_scope`` so
every graph node it creates records the module's dotted path from the model
that was called (``""`` for the model itself) and its class name; Graphviz
export groups nodes by it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphgrad.autograd.grad_mode import STATE, enable_grad, module_scope, no_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.nn.context import call_log as _call_log
from graphgrad.nn.context import call_stack as _running
from graphgrad.nn.context import note_structure_change
from graphgrad.nn.context import running_modules, structure_epoch  # noqa: F401 - re-exported
from graphgrad.nn.parameter import Parameter, resolve_initializer  # noqa: F401 - re-exported

_MISSING = object()
_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def _same(old, new) -> bool:
    if old is new:
        return True
    if type(old) is type(new) and isinstance(new, _SCALARS):
        return old == new
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _is_float64(x) -> bool:
    data = x.data if isinstance(x, Tensor) else x
    return type(data) is np.ndarray and data.dtype == np.float64


def _warn_float64_input(module) -> None:
    """Warn once per model when float64 data enters a model whose weights are float32.

    NumPy promotes float32 weights with float64 data to float64, so every op
    and gradient of the model silently runs in float64 (twice the memory, and
    slower): name the first float32 layer and say how to fix it.  Only the
    model's entry (the outermost call) checks, after its forward returned a
    float64 output; layers called by it do not.
    """
    layer = None
    for name, p in module.named_parameters():
        if p.data.dtype == np.float64:
            return  # (part of) the model is float64 on purpose
        if layer is None and p.data.dtype == np.float32:
            layer = name.rpartition(".")[0]
    if layer is None:
        return
    import warnings

    owner = dict(module.named_modules()).get(layer, module)
    where = f"{layer!r} ({type(owner).__name__})" if layer else f"({type(owner).__name__})"
    module.__dict__["_float64_warned"] = True
    warnings.warn(
        f"{type(module).__name__}: float64 input to a float32 model; its first layer "
        f"{where} and every op after it now compute in float64 (twice the memory, "
        "slower). Cast the data with x.astype('float32') (or make the whole model "
        "float64 with model.double()). Shown once per model.",
        UserWarning, stacklevel=3)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models (PyTorch semantics).

    Subclasses define ``forward(*inputs)`` and put Parameters, buffers and child
    Modules in attributes.  ``module(x)`` runs ``forward`` with the module's
    dotted path recorded on every graph node created.  ``training`` (set by
    ``train()``/``eval()``) lets layers such as dropout behave differently.
    """

    training = True

    def __init__(self):
        self.training = True

    # ---------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        """The computation; every subclass defines it."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define forward(); a Module subclass must "
            "implement forward(self, *inputs) and return its output Tensor(s)"
        )

    def __call__(self, *args, **kwargs):
        stack = _running()
        # the model's entry only: float64 data in, float64 out of float32 weights?
        watch = (not stack and args and _is_float64(args[0])
                 and not self.__dict__.get("_float64_warned"))
        if stack:
            parent, parent_path = stack[-1]
            path = _join(parent_path, parent._child_name(self))
        else:
            path = ""
        stack.append((self, path))
        log = _call_log()
        if log is not None:
            log.setdefault(id(self), self)
        try:
            with module_scope(path, type(self).__name__):
                out = self.forward(*args, **kwargs)
        except Exception as exc:
            _note_failure(exc, self, path, args)
            raise
        finally:
            stack.pop()
        if watch and _is_float64(out):
            _warn_float64_input(self)
        if isinstance(out, Tensor) and out.grad_fn is None and STATE.enabled:
            _name_unrecorded(self, path, args, out)
        return out

    def time_step(self, name: str) -> module_scope:
        """A scope for one step of a loop over time in ``forward``: ``with self.time_step("l0"):``.

        The ops made inside are recorded as one call of ``<this module's path>.<name>``,
        of this module's class, marked as a time step: ``gg.to_dot`` draws all the
        steps as one node "× T steps" by default (``loops="steps"`` draws each).
        """
        stack = _running()
        path = stack[-1][1] if stack and stack[-1][0] is self else ""
        return module_scope(_join(path, name), type(self).__name__, time_step=True)

    def _child_name(self, child: Module) -> str:
        """The dotted name of `child` relative to this running module.

        A direct child first, then any descendant; a module found nowhere (passed
        in from outside) is named after its class.
        """
        for name, module in self._direct_children():
            if module is child:
                return name
        for name, module in self.named_modules():
            if module is child and name:
                return name
        return type(child).__name__

    # ------------------------------------------------------------- discovery
    def _direct_children(self) -> Iterator[tuple[str, Module]]:
        """Child modules held in attributes, lists/tuples (``attr.i``) and dicts (``attr.key``)."""
        yield from _members(vars(self), Module)

    def _direct_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield from _members(vars(self), Parameter)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct child, each module once."""
        seen = set()
        for name, module in self._direct_children():
            if id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct child modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted path, module) for this module and every descendant, pre-order.

        Each module once (under its first path) unless ``remove_duplicate=False``
        (PyTorch's name): then a module held under several names (a shared
        layer) is listed under each of them, with its descendants.
        """
        seen = {id(self)}
        stack = [(prefix, self, (id(self),))]
        while stack:
            path, module, ancestors = stack.pop()
            yield path, module
            if remove_duplicate:
                children = [(_join(path, n), m, ()) for n, m in module.named_children()
                            if id(m) not in seen]
                seen.update(id(m) for _, m, _ in children)
            else:  # every name, but never a module inside itself
                children = [(_join(path, n), m, ancestors + (id(m),))
                            for n, m in module._direct_children() if id(m) not in ancestors]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) for every parameter, each once (shared ones by first name)."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, p in module._direct_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield _join(path, name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter, each once (pass to an optimizer)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def register_buffer(self, name: str, value) -> None:
        """Keep a non-trainable array (e.g. running statistics) as attribute `name`.

        Buffers go into ``state_dict`` and are converted by ``astype`` like
        parameters, but get no gradient.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{type(self).__name__}.register_buffer: bad name {name!r}; "
                             "use a Python identifier")
        current = vars(self).get(name)
        if isinstance(current, (Parameter, Module)):
            raise ValueError(f"{type(self).__name__}.register_buffer: {name!r} is already a "
                             f"{type(current).__name__} of this module")
        if "_buffer_names" not in vars(self):
            self._buffer_names = []
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, None if value is None else np.array(value, copy=True))

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """(dotted name, ndarray) for every registered buffer."""
        for name, _, _, value in self._buffer_slots(prefix):
            yield name, value

    def _buffer_slots(self, prefix: str = "") -> Iterator[tuple[str, Module, str, np.ndarray]]:
        """(dotted name, owning module, attribute, ndarray) for every buffer that is not None."""
        for path, module in self.named_modules(prefix):
            for name in vars(module).get("_buffer_names", ()):
                value = getattr(module, name)
                if value is not None:
                    yield _join(path, name), module, name, value

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter) and value.name is None:
            value.name = name  # shown in graph exports
        d = self.__dict__
        if name != "training" and not _same(d.get(name, _MISSING), value):
            self.bump_version(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        self.bump_version(name)

    # --------------------------------------------------------------- versions
    @property
    def structure_version(self) -> int:
        """A counter bumped whenever this module's own attributes change.

        Any real change bumps it: a child, Parameter or buffer added, removed or
        replaced, a hyperparameter such as ``Dropout.p`` set to a new value,
        ``Sequential.append``, the ``Network`` edits.  ``training`` is not
        counted (``train()``/``eval()`` are checked on their own).  Tools that
        cache work over a model (``gg.compile``) compare it.
        """
        return self.__dict__.get("_gg_version", 0)

    @property
    def last_change(self) -> str | None:
        """The attribute whose change last bumped ``structure_version`` (None: never)."""
        return self.__dict__.get("_gg_changed")

    def bump_version(self, what: str = "structure") -> None:
        """Note a change made without attribute assignment (e.g. a list of layers edited)."""
        d = self.__dict__
        d["_gg_version"] = d.get("_gg_version", 0) + 1
        d["_gg_changed"] = what
        note_structure_change()

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all descendants; returns self."""
        for _, module in self.named_modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of parameter elements (shared parameters counted once)."""
        return int(sum(p.data.size for p in self.parameters()
                       if p.requires_grad or not trainable_only))

    def astype(self, dtype) -> Module:
        """Cast every floating parameter and buffer to `dtype` in place; returns self."""
        dtype = np.dtype(dtype)
        with no_grad():
            for p in self.parameters():
                if p.data.dtype.kind == "f" and p.data.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    p.grad = None
                    p._bump_version()
        for _, module, name, value in list(self._buffer_slots()):
            if value.dtype.kind == "f":
                setattr(module, name, value.astype(dtype))
        return self

    def float(self) -> Module:
        """Cast to float32 in place."""
        return self.astype(np.float32)

    def double(self) -> Module:
        """Cast to float64 in place."""
        return self.astype(np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name → ndarray copy of every parameter, then every buffer.

        Two different arrays under one name is an error (one would silently
        overwrite the other in the file).
        """
        return {name: (target[1].data if target[0] == "parameter"
                       else getattr(*target[1:])).copy()
                for name, target in self._state_targets().items()}

    def _state_targets(self) -> dict[str, tuple]:
        targets: dict[str, tuple] = {}
        entries = [(name, ("parameter", p)) for name, p in self.named_parameters()]
        entries += [(dotted, ("buffer", module, name))
                    for dotted, module, name, _ in self._buffer_slots()]
        for name, target in entries:
            if name in targets:
                raise ValueError(
                    f"{type(self).__name__}: two different arrays are both named {name!r}, so "
                    "state_dict/save would keep only one; give the modules distinct names "
                    "(a module held twice under one name, or an attribute shadowing a child)")
            targets[name] = target
        return targets

    def load_state_dict(self, state: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state` (name → array) into the parameters and buffers.

        Parameters are overwritten in place (optimizers keep working), cast to
        their dtype.  With ``strict=True`` a name missing from `state` or
        unknown to the model is an error; a shape mismatch always is.  Nothing
        is changed unless every check passes.  Returns ``(missing_keys,
        unexpected_keys)``.
        """
        targets = self._state_targets()
        missing = [n for n in targets if n not in state]
        unexpected = [n for n in state if n not in targets]
        mismatched = []
        for name, target in targets.items():
            if name in state:
                current = target[1].data if target[0] == "parameter" else getattr(*target[1:])
                got = np.shape(state[name])
                if got != current.shape:
                    mismatched.append(f"{name}: state {got} vs model {current.shape}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys (in the model, not in the state): {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys (in the state, not in the model): {unexpected}")
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if problems:
            hint = (" Pass strict=False to load only the matching names."
                    if strict and (missing or unexpected) else "")
            raise ValueError(f"{type(self).__name__}.load_state_dict: "
                             + "; ".join(problems) + "." + hint)
        for name, target in targets.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if target[0] == "parameter":
                p = target[1]
                np.copyto(p.data, value, casting="unsafe")
                p._bump_version()
            else:
                _, module, attr = target
                setattr(module, attr, value.astype(getattr(module, attr).dtype, copy=True))
        return IncompatibleKeys(missing, unexpected)

    def save(self, path, meta: dict | None = None):
        """Write ``state_dict()`` to `path` as .npz, atomically (never pickle); returns the path.

        `meta` (JSON-able) is stored alongside; the class name and parameter
        count are always recorded.
        """
        from graphgrad.serialize import save_npz_atomic

        record = {"graphgrad": "module", "class": type(self).__name__,
                  "num_parameters": self.num_parameters()}
        record.update(meta or {})
        return save_npz_atomic(path, self.state_dict(), record)

    def load(self, path, strict: bool = True) -> Module:
        """Load weights saved by ``save`` into this module (``load_state_dict``); returns self."""
        from graphgrad.serialize import load_npz

        arrays, _ = load_npz(path)
        self.load_state_dict(arrays, strict=strict)
        return self

    # ------------------------------------------------------------ inspection
    def to_dot(self, example_input, **opts):
        """Run forward on `example_input` and return its graph via ``graphgrad.viz.to_dot``.

        A floating input that does not require grad is replaced by a copy that
        does, so the graph is recorded even for a module without parameters.
        `opts` go to ``to_dot`` (``depth``, ``show_shapes``...); ``params``
        defaults to this module, so parameters get their dotted names.  If the
        forward fails inside a module, the picture shows what ran up to it.
        """
        from graphgrad import viz

        inputs = example_input if isinstance(example_input, tuple) else (example_input,)
        inputs = tuple(_traced(x) for x in inputs)
        try:
            with enable_grad():
                output = self(*inputs)
        except Exception as exc:
            if getattr(exc, "graphgrad_module", None) is None:
                raise
            output = exc  # to_dot draws what ran, the failing module red
        opts.setdefault("params", self)
        return viz.to_dot(output, **opts)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr`` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        n = self.num_parameters()
        count = f"  # {n:,} parameters" if n else ""
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()}){count}"
        own = self.extra_repr()
        body = ([own] if own else []) + [f"({name}): {child!r}" for name, child in children]
        inner = "\n".join("  " + line for line in "\n".join(body).splitlines())
        return f"{type(self).__name__}(\n{inner}\n){count}"


def _note_failure(exc: Exception, module: Module, path: str, args: tuple) -> None:
    """Name the innermost module a forward failed in, on the exception itself.

    The message gains a note (``in module model.4: Linear, input shapes (4, 12)``)
    and the exception the attributes graph inspection reads to draw what ran
    (``gg.to_dot(exc)``, ``gg.summary``): ``graphgrad_module`` (path, class)
    and ``graphgrad_inputs`` (the Tensors the module was called with).  Outer
    modules leave both alone, so they name the innermost one.
    """
    if getattr(exc, "graphgrad_module", None) is not None:
        return
    where = f"model.{path}" if path else "model"
    shapes = ", ".join(str(tuple(a.shape)) for a in args if isinstance(a, Tensor))
    try:
        exc.graphgrad_module = (path, type(module).__name__)
        exc.graphgrad_inputs = tuple(a for a in args if isinstance(a, Tensor))
    except AttributeError:  # an exception type that takes no attributes: the note still helps
        pass
    exc.add_note(f"in module {where}: {type(module).__name__}"
                 + (f", input shape{'s' * (shapes.count('(') > 1)} {shapes}" if shapes else ""))


def _traced(x):
    if isinstance(x, Tensor) and x.dtype.kind == "f" and not x.requires_grad:
        return Tensor(x.data, requires_grad=True, name=x.name or "input")
    return x


def _members(attributes: dict, kind: type) -> Iterator[tuple[str, Any]]:
    """Values of type `kind` among attributes, lists/tuples and dicts of attributes."""
    for attr, value in attributes.items():
        if isinstance(value, kind):
            yield attr, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, kind):
                    yield f"{attr}.{i}", item
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, kind):
                    yield f"{attr}.{key}", item


FROZEN_OUTPUT = "(frozen: not recorded)"


def _name_unrecorded(module, path, args, out) -> None:
    """Name the output of a module whose ops were not recorded because its parameters
    are frozen (or its input came from such a module): pictures then draw it as
    ``"0 output (frozen: not recorded)"``, not as a model input."""
    if out.name is not None or out.requires_grad:
        return
    after = any(isinstance(a, Tensor) and a.name and a.name.endswith(FROZEN_OUTPUT)
                for a in args)
    if after or any(not p.requires_grad for p in module.parameters()):
        out.name = f"{path or 'model'} output {FROZEN_OUTPUT}"
