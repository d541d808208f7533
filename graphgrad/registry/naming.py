"""Registry names: how a component's class or function name becomes its registry name.

``ScaledTanh`` is registered as ``scaled_tanh`` unless it sets its own ``name``.
"""

from __future__ import annotations

import re
from typing import Any

# Mixed-case abbreviations that the camel-case rules would split ("ReLU" -> "re_lu").
# Longer atoms first: "PReLU" must win over "ReLU".
_ATOMS = {
    "PReLU": "Prelu",
    "ReLU": "Relu",
    "GeLU": "Gelu",
    "SeLU": "Selu",
    "SiLU": "Silu",
    "RMSprop": "Rmsprop",
    "RMSProp": "Rmsprop",
}


def snake_case(name: str) -> str:
    """Convert a class or function name to snake_case.

    ``ScaledTanh`` -> ``scaled_tanh``, ``SGD`` -> ``sgd``, ``BCEWithLogits`` ->
    ``bce_with_logits``, ``LeakyReLU`` -> ``leaky_relu``, ``Conv2D`` -> ``conv2d``;
    names already in snake_case are returned unchanged.
    """
    for atom, word in _ATOMS.items():
        name = name.replace(atom, word)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)  # end of an acronym: BCEWith
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)  # camel hump: scaledTanh
    name = re.sub(r"(\d)([A-Z][a-z])", r"\1_\2", name)  # digit then word: Conv2DTranspose
    return re.sub(r"_+", "_", name).strip("_").lower()


def component_name(component: Any) -> str:
    """The registry name of a component.

    Its own ``name`` attribute if it sets one (on a class, only a ``name``
    defined by the class itself counts, not an inherited one), else the
    snake_case of its ``__name__``. Raises ``ValueError`` if that is not a valid
    Python identifier (e.g. a lambda).
    """
    if isinstance(component, type):
        explicit = vars(component).get("name")
    else:
        explicit = getattr(component, "name", None)
    if isinstance(explicit, str):
        name = explicit
    elif isinstance(getattr(component, "__name__", None), str):
        name = snake_case(component.__name__)
    else:
        name = ""
    if not name.isidentifier():
        raise ValueError(
            f"component {component!r} has no usable registry name (got {name!r}); "
            "give it a `name` attribute that is a valid identifier, e.g. name = 'my_layer'"
        )
    return name
