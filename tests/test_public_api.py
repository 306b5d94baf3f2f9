"""The top-level package exports exactly its public API, and each subpackage its own."""

from __future__ import annotations

import importlib
import types

import pytest

import proctor

LAYERS = [
    "store",
    "tools",
    "contracts",
    "policy",
    "gateway",
    "gateway.providers",
    "runtime",
    "audit",
    "evals",
    "reports",
    "telemetry",
    "endpoint",
    "server",
    "integrations",
    "notifications",
]


def public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }


def test_top_level_all_is_exactly_the_public_names() -> None:
    for name in proctor.__all__:  # the layers' names load on first use, as `import *` does
        getattr(proctor, name)
    assert set(proctor.__all__) == public_names(proctor) | {"__version__"}
    assert sorted(proctor.__all__) == proctor.__all__


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_exports_what_it_defines(layer: str) -> None:
    module = importlib.import_module(f"proctor.{layer}")
    exported = set(module.__all__)
    # hasattr, not vars(): a name may load lazily (gateway.providers' httptools client).
    undefined = {name for name in exported if not hasattr(module, name)}
    assert not undefined, f"proctor.{layer}.__all__ names something undefined: {undefined}"
    helpers = {"os", "Path", "Any", "TYPE_CHECKING"}
    assert public_names(module) - exported <= helpers, "public but not in __all__"


# DESIGN.md: dependencies point one way; a layer may import only these (and errors).
ALLOWED = {
    "store": set(),
    "tools": set(),
    "contracts": {"store", "tools"},
    "policy": {"contracts", "store", "tools"},
    "gateway": {"store"},
    "runtime": {"contracts", "gateway", "policy", "store", "telemetry", "tools"},
    "examples": {"contracts", "gateway", "runtime", "store", "tools"},
    "audit": {"store"},
    "evals": {"contracts", "gateway", "policy", "reports", "runtime", "store", "tools"},
    "reports": {"contracts", "store"},
    "telemetry": {"store"},
    # telemetry: each gateway call is a GenAI span (docs/gateway.md, Watching the gateway).
    "endpoint": {"gateway", "store", "telemetry"},
    # gateway: the sso: and notifications: of proctor.yaml.
    "server": {"audit", "evals", "gateway", "notifications", "reports", "runtime", "store"},
    "notifications": {"contracts", "gateway", "store"},
    "integrations": {"contracts", "gateway", "runtime", "store", "tools"},
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_the_layers_below(layer: str) -> None:
    import pathlib
    import re

    package = pathlib.Path(proctor.__file__).parent / layer
    # errors, and the one YAML reader (above store), are shared by every layer above them;
    # the one way to bind a port, by the two that serve.
    allowed = ALLOWED[layer] | {layer, "errors"} | (set() if layer == "store" else {"_yaml"})
    allowed |= {"_sockets"} if layer in ("endpoint", "server") else set()
    for source in package.rglob("*.py"):
        used = set(re.findall(r"(?:from|import) proctor\.(\w+)", source.read_text()))
        assert used <= allowed, f"{source.relative_to(package.parent)} imports {used - allowed}"
