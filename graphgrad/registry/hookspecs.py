"""Every pluggy hook specification of graphgrad.

A plugin is a module (or any object) whose functions are marked with
``graphgrad.hookimpl`` and named after one of the specs below. Hooks are always
called with keyword arguments, so an implementation may accept only the
arguments it needs, in any order.

Registration hooks (``graphgrad_register_<kind>``) return a list of classes (or
functions, where a kind allows them; never instances); each becomes a component
of the registry ``graphgrad.<kind>``. They are called once per plugin when the
plugin manager is built and must not depend on the order in which plugins are
called.

Event hooks are called by the library while it works (training, Graphviz export)
through ``graphgrad.registry.call_event(hook_name, **kwargs)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from graphgrad.training.trainer import History, Trainer

hookspec = pluggy.HookspecMarker("graphgrad")

#: Registry kind -> the hook that fills it.
REGISTRATION_HOOKS: dict[str, str] = {
    kind: f"graphgrad_register_{kind}"
    for kind in ("layers", "losses", "initializers", "optimizers", "schedules", "transforms")
}

#: The component kinds, in display order.
KINDS: tuple[str, ...] = tuple(REGISTRATION_HOOKS)

#: The hook through which a plugin adds kernels to graphgrad.kernels.K.
KERNEL_HOOK = "graphgrad_register_kernels"

#: Hooks the library calls while it works (see ``graphgrad.registry.call_event``).
EVENT_HOOKS: tuple[str, ...] = (
    "graphgrad_train_start",
    "graphgrad_epoch_end",
    "graphgrad_train_end",
    "graphgrad_dot_node_attrs",
)


# -- registration hooks -------------------------------------------------------


@hookspec
def graphgrad_register_kernels() -> dict[str, Any]:
    """Return the kernels this plugin adds to ``graphgrad.kernels.K``.

    A dict ``{name: twin}`` or ``{name: (twin, fast)}``: ``twin`` is the pure
    NumPy reference (what the ``"numpy"`` backend runs, the oracle of tests),
    ``fast`` an optional faster kernel with the same signature and result (what
    the ``"numba"`` backend runs).  A name graphgrad's own table has (``matmul``)
    is refused and the plugin is BROKEN; two plugins with one name follow the
    component rules (the first keeps it, the other is ``K["dist:name"]``-style
    ``getattr(K, "dist:name")``; by hand: ``DuplicateComponentError``).
    """


@hookspec
def graphgrad_register_layers() -> list[Any]:
    """Return the layer classes (``Module`` subclasses) this plugin provides.

    Each is registered under its ``name`` attribute if it sets one, else the
    snake_case of its class name (``ScaledTanh`` -> ``scaled_tanh``).

    A layer can declare ``example_input(rng)`` (a classmethod, or a method of an
    instance) returning a small input, so that ``graphgrad plugins --check``
    checks it with ``graphgrad.check.module``. The instance checked is built by
    ``cls.example(rng)`` if the class defines that classmethod, else by ``cls()``.
    """


@hookspec
def graphgrad_register_losses() -> list[Any]:
    """Return the loss classes (``Loss`` or ``Module`` subclasses) or functions this plugin
    provides.

    A loss is called as ``loss(prediction, target)`` and takes
    ``reduction="mean" | "sum" | "none"``.  ``example_input(rng)`` returning
    ``(prediction, target)`` lets ``graphgrad plugins --check`` check it with
    ``graphgrad.check.loss``.
    """


@hookspec
def graphgrad_register_initializers() -> list[Any]:
    """Return the initializers this plugin provides.

    An initializer (a class or a function) is called as ``init(shape, rng) ->
    numpy.ndarray`` and derives fan-in and fan-out from ``shape``; a
    ``variance(shape)`` method (its documented fan rule) is checked by
    ``graphgrad.check.initializer``.
    """


@hookspec
def graphgrad_register_optimizers() -> list[Any]:
    """Return the optimizer classes (``Optimizer`` subclasses) this plugin provides.

    An optimizer follows PyTorch: ``Opt(params, lr, ...)`` with
    ``step(closure=None)``, ``zero_grad()`` and ``state_dict()``.
    """


@hookspec
def graphgrad_register_schedules() -> list[Any]:
    """Return the learning-rate schedule classes (``Schedule`` subclasses) this plugin provides.

    A schedule wraps an optimizer (``Sched(optimizer, ...)``) and has ``step()``
    and ``get_last_lr()``.
    """


@hookspec
def graphgrad_register_transforms() -> list[Any]:
    """Return the data transforms (preprocessing, augmentation) this plugin provides.

    ``Transform`` subclasses (a random one: ``RandomTransform``, taking ``seed``)
    or functions on a batch; ``example_input(rng)`` returning a small batch lets
    ``graphgrad plugins --check`` check it with ``graphgrad.check.transform``.
    """


@hookspec
def graphgrad_register_findings_rules() -> list[Any]:
    """Return findings rules ``rule(ctx) -> list[graphgrad.viz.Finding]`` (functions).

    ``ctx`` is a ``graphgrad.viz.FindingContext`` (``graph``, ``model``,
    ``optimizer``); ``gg.viz.findings`` and the default ``gg.to_dot`` picture run
    every rule. Healthy networks must produce no warning or error findings.
    """


# -- event hooks --------------------------------------------------------------


@hookspec
def graphgrad_train_start(trainer: Trainer) -> None:
    """Called once when ``trainer`` starts fitting, before the first epoch."""


@hookspec
def graphgrad_epoch_end(trainer: Trainer, epoch: int, metrics: dict[str, float]) -> bool | None:
    """Called after every epoch with its number (from 0) and its metrics.

    Return ``True`` to ask the trainer to stop after this epoch; return ``None``
    (or ``False``) to let it continue. Every plugin is called; training stops if
    any of them returns ``True``.
    """


@hookspec
def graphgrad_train_end(trainer: Trainer, history: History) -> None:
    """Called once when fitting ends (normally or by a stop request) with the history."""


@hookspec
def graphgrad_dot_node_attrs(node: dict[str, Any], attrs: dict[str, str]) -> None:
    """Restyle one node of a Graphviz export by mutating ``attrs`` in place.

    ``node`` is the networkx node-attribute dict of the graph node being drawn
    (read it, do not change it); ``attrs`` holds the Graphviz attributes about
    to be written (``label``, ``shape``, ``fillcolor``, ...).
    """
