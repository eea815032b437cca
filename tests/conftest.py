from __future__ import annotations

from pathlib import Path

import pytest

import chatguard

pytest_plugins = ["tests.redisfixture"]

TESTS = Path(__file__).parent
ROOT = TESTS.parent
DATA = TESTS / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def minimal_detector() -> chatguard.Detector:
    """A detector over the small test pack (independent of the bundled rules)."""
    return chatguard.Detector.from_rules(DATA / "packs" / "minimal")


@pytest.fixture(scope="session")
def default_detector() -> chatguard.Detector:
    """The bundled zh-CN pack, its tokenizer loaded (detectors are immutable: one serves
    every test module)."""
    d = chatguard.Detector.default()
    d.warm_up()
    return d
