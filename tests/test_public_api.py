"""The public surface is a contract: ``chatguard.__all__`` is pinned here, so adding or
removing a name is a deliberate change to this list, not an accident of an import."""

from __future__ import annotations

from importlib import resources

import pytest

import chatguard

PUBLIC = [
    "ChatMessage",
    "ChatguardError",
    "ConfigError",
    "Detector",
    "Event",
    "Finding",
    "Guard",
    "InputError",
    "Level",
    "LevelName",
    "MemoryStore",
    "Policy",
    "RedisStore",
    "RuleError",
    "RuleSet",
    "SchemaVersionError",
    "SinkError",
    "Verdict",
    "__version__",
    "load_rules",
]


def test_all_is_pinned_and_sorted() -> None:
    assert chatguard.__all__ == PUBLIC
    assert sorted(chatguard.__all__) == chatguard.__all__


def test_every_public_name_resolves() -> None:
    for name in chatguard.__all__:
        assert getattr(chatguard, name) is not None, name
    assert set(chatguard.__all__) <= set(dir(chatguard))


def test_errors_form_one_tree() -> None:
    for name in ("ConfigError", "InputError", "RuleError", "SchemaVersionError", "SinkError"):
        assert issubclass(getattr(chatguard, name), chatguard.ChatguardError), name
    assert issubclass(chatguard.RuleError, ValueError)
    assert issubclass(chatguard.SchemaVersionError, chatguard.RuleError)


def test_package_is_typed() -> None:
    assert resources.files("chatguard").joinpath("py.typed").is_file()


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        chatguard.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_star_import_gives_exactly_all() -> None:
    """``from chatguard import *`` works in a fresh interpreter (lazy names included) and
    binds exactly ``__all__``."""
    import subprocess
    import sys

    code = (
        "before = set(globals())\n"
        "from chatguard import *\n"
        "import chatguard\n"
        "new = sorted(set(globals()) - before - {'before', 'chatguard'})\n"
        "assert new == sorted(chatguard.__all__), new\n"
        "assert Guard.__module__ == 'chatguard.guard'\n"
        "assert RedisStore.__module__.startswith('chatguard.state')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
