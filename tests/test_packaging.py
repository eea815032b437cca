"""The wheel carries what the library needs at run time: the bundled rule pack (as
``chatguard/_rules``), the character tables and ``py.typed``. Built for real with ``build``;
nothing is installed, the archive is inspected (and its rule pack loaded from an unpacked
copy)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import chatguard

from .conftest import ROOT

PACK = ROOT / "rules" / "zh-CN"
DATA = ROOT / "src" / "chatguard" / "_data"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("build") is None,
    reason="the 'build' package is not installed (pip install -e '.[test]')",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out)]
    # without isolation the build reuses the installed backend: no download, a second or so
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-isolation")
    proc = subprocess.run([*cmd, str(ROOT)], capture_output=True, text=True, timeout=600,
                          check=False, cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("chatguard-*.whl")
    return whl


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_wheel_is_named_for_this_version(wheel: Path) -> None:
    assert wheel.name.startswith(f"chatguard-{chatguard.__version__}-py3-none-any")


def test_wheel_ships_the_bundled_pack(wheel: Path, names: set[str]) -> None:
    expected = {f"chatguard/_rules/zh-CN/{p.relative_to(PACK).as_posix()}"
                for p in PACK.rglob("*") if p.is_file()}
    assert "chatguard/_rules/zh-CN/pack.toml" in expected
    assert any(n.startswith("chatguard/_rules/zh-CN/wordlists/") for n in expected)
    assert len([n for n in expected if n.endswith(".toml")]) == len(list(PACK.glob("*.toml")))
    assert expected <= names, sorted(expected - names)
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(expected):
            source = PACK / name.removeprefix("chatguard/_rules/zh-CN/")
            assert z.read(name) == source.read_bytes(), name


def test_wheel_ships_tables_and_typing_marker(wheel: Path, names: set[str]) -> None:
    tables = {f"chatguard/_data/{p.name}" for p in DATA.glob("*.tsv")}
    assert tables, "no tables in the source tree?"
    assert tables <= names, sorted(tables - names)
    assert "chatguard/py.typed" in names
    with zipfile.ZipFile(wheel) as z:
        for name in tables:
            assert z.read(name) == (DATA / Path(name).name).read_bytes(), name


def test_wheel_ships_the_package_and_nothing_else(names: set[str]) -> None:
    modules = {f"chatguard/{p.relative_to(ROOT / 'src' / 'chatguard').as_posix()}"
               for p in (ROOT / "src" / "chatguard").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"chatguard", f"chatguard-{chatguard.__version__}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_metadata(wheel: Path, names: set[str]) -> None:
    info = f"chatguard-{chatguard.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"{info}/METADATA").decode("utf-8")
        entry_points = z.read(f"{info}/entry_points.txt").decode("utf-8")
    assert "Requires-Python: >=3.11" in metadata
    for dep in ("jieba", "pyahocorasick", "pydantic", "numpy"):
        assert f"Requires-Dist: {dep}" in metadata, dep
    assert "chatguard = chatguard.cli:main" in entry_points


def test_the_shipped_pack_loads(wheel: Path, tmp_path: Path) -> None:
    """The pack as unpacked from the wheel compiles to the same rules as the source pack."""
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("chatguard/_rules/"):
                z.extract(name, tmp_path)
    shipped = tmp_path / "chatguard" / "_rules" / "zh-CN"
    assert chatguard.load_rules(shipped).fingerprint == chatguard.load_rules(PACK).fingerprint
    shutil.rmtree(tmp_path / "chatguard")
