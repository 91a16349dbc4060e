"""The registry: every built-in loads, unknown names are input errors, and plugins arrive through entry points."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from histcheck import registry
from histcheck.errors import InputError


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_builtin_loads(kind: str) -> None:
    for name in registry.BUILTINS[kind]:
        assert registry.get(kind, name) is not None


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(InputError) as err:
        registry.get("dbs", "no-such-db")
    assert "unknown db 'no-such-db'" in str(err.value) and "etcd" in str(err.value)


def test_plugin_from_an_installed_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution on sys.path with a ``histcheck.models`` entry point adds a model; one that reuses a
    built-in's name is ignored and reported as a clash."""
    (tmp_path / "hc_plugin_demo.py").write_text("class Demo:\n    name = 'demo'\n")
    info = tmp_path / "hc_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hc-plugin-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[histcheck.models]\ndemo = hc_plugin_demo:Demo\n"
                                           "kv = hc_plugin_demo:Demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins", None)
    monkeypatch.setattr(registry, "_clashes", [])
    assert registry.get("models", "demo").name == "demo"
    assert registry.entry("models", "demo").origin == "hc-plugin-demo"
    assert "demo" in registry.names("models")
    assert registry.get("models", "kv").__module__ == "histcheck.models.kv"
    assert [(c.name, c.origin) for c in registry.clashes()] == [("kv", "hc-plugin-demo")]
    sys.modules.pop("hc_plugin_demo", None)


def test_broken_plugin_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTINS["checkers"], "broken", "no_such_module_anywhere:Thing")
    with pytest.raises(InputError) as err:
        registry.get("checkers", "broken")
    assert "broken" in str(err.value) and "cannot be loaded" in str(err.value)
