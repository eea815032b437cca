"""The ``chatguard`` command, run the way a user runs it: a separate process, its exit code,
its stdout and its stderr. Errors are one line naming the place, never a traceback; colour
only on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard.models import Level

from .conftest import DATA, ROOT

BUNDLED = ROOT / "rules" / "zh-CN"
CHATS = ROOT / "examples" / "chats.txt"
MINIMAL = DATA / "packs" / "minimal"
ANSI = "\x1b["
SCAM = "加我薇信，带你投资稳赚不赔"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONUTF8"] = "1"
    env.update(extra or {})
    return env


def _run(*args: str | Path, stdin: str | None = None,
         env: Mapping[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "chatguard", *map(str, args)],
        input=stdin.encode("utf-8") if stdin is not None else None,
        capture_output=True,
        env=_env(env),
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _messages(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def chats_json() -> list[dict[str, Any]]:
    run = _run("check", "--json", "--file", CHATS)
    assert run.code == 0, run.err
    return _json_lines(run.out)


# -- check ---------------------------------------------------------------------------------
def test_check_text_prints_level_and_marks_spans() -> None:
    run = _run("check", SCAM)
    assert run.code == 0, run.err
    assert run.err == ""
    first, *details = run.out.splitlines()
    assert first.split()[0] in {"HIGH", "CRITICAL"}
    assert "[加我薇信]" in first  # spans marked in plain text when not on a terminal
    assert "稳赚不赔]" in first
    assert any("diversion-add-wechat" in line for line in details)
    assert ANSI not in run.out


def test_check_json_fields(default_detector: chatguard.Detector) -> None:
    run = _run("check", "--json", SCAM, "今天天气不错")
    assert run.code == 0, run.err
    rows = _json_lines(run.out)
    assert [r["text"] for r in rows] == [SCAM, "今天天气不错"]
    scam, plain = rows
    assert {"text", "score", "level", "categories", "findings", "ruleset"} <= set(scam)
    assert scam["ruleset"] == default_detector.fingerprint
    assert scam["level"] in {"high", "critical"}
    assert 0.0 < scam["score"] <= 1.0
    assert {"diversion", "investment"} <= set(scam["categories"])
    for f in scam["findings"]:
        assert {"rule_id", "category", "start", "end", "matched", "weight", "explanation"} <= set(f)
        assert SCAM[f["start"] : f["end"]] == f["matched"]
    assert plain == {"text": "今天天气不错", **default_detector.check("今天天气不错").to_dict()}
    assert plain["level"] == "none"
    assert plain["findings"] == []


def test_check_json_equals_the_library(
    default_detector: chatguard.Detector, chats_json: list[dict[str, Any]]
) -> None:
    texts = _messages(CHATS)
    assert [r["text"] for r in chats_json] == texts
    verdicts = default_detector.check_many(texts)
    expected = [{"text": t, **v.to_dict()} for t, v in zip(texts, verdicts, strict=True)]
    assert chats_json == expected


def test_check_file_human_output_has_one_verdict_per_message() -> None:
    run = _run("check", "--file", CHATS)
    assert run.code == 0, run.err
    levels = {lv.name for lv in Level}
    heads = [line for line in run.out.splitlines() if line.split(" ", 1)[0] in levels]
    assert len(heads) == len(_messages(CHATS))
    assert ANSI not in run.out


@pytest.mark.parametrize("floor", ["medium", "high", "critical"])
def test_min_level_filters(floor: str, chats_json: list[dict[str, Any]]) -> None:
    run = _run("check", "--json", "--min-level", floor, "--file", CHATS)
    assert run.code == 0, run.err
    rows = _json_lines(run.out)
    expected = [r for r in chats_json if Level.parse(r["level"]) >= Level.parse(floor)]
    assert rows == expected
    assert rows  # the example chats hold messages at every one of these levels


def test_check_reads_stdin() -> None:
    run = _run("check", "--json", "-", stdin=f"你好\n{SCAM}\r\n")
    assert run.code == 0, run.err
    assert [(r["text"], r["level"] != "none") for r in _json_lines(run.out)] == [
        ("你好", False), (SCAM, True)]


def test_check_with_another_pack() -> None:
    run = _run("check", "--json", "--rules", MINIMAL, "你先转账给我")
    assert run.code == 0, run.err
    (row,) = _json_lines(run.out)
    assert row["ruleset"] == chatguard.Detector.from_rules(MINIMAL).fingerprint
    assert "transfer-request" in {f["rule_id"] for f in row["findings"]}


def test_check_file_with_bad_bytes_and_crlf(tmp_path: Path) -> None:
    f = tmp_path / "chats.txt"
    f.write_bytes("你好\r\n".encode() + b"\xff\xfe broken\r\n" + "转账给我\n".encode())
    run = _run("check", "--json", "--file", f)
    assert run.code == 0, run.err
    rows = _json_lines(run.out)
    assert len(rows) == 3
    assert rows[0]["text"] == "你好"
    assert rows[2]["level"] != "none"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("check",), id="nothing-to-check"),
        pytest.param(("check", "--file", "no/such/file.txt"), id="missing-file"),
        pytest.param(("check", "--rules", "no/such/pack", "你好"), id="missing-pack"),
    ],
)
def test_check_usage_errors_are_one_line(args: tuple[str, ...]) -> None:
    run = _run(*args)
    assert run.code == 2
    assert "Traceback" not in run.err
    assert run.err.startswith("chatguard: error:")
    assert len(run.err.strip().splitlines()) == 1


# -- colour --------------------------------------------------------------------------------
def _run_on_tty(*args: str, env: Mapping[str, str] | None = None) -> str:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatguard", *args],
            stdout=slave, stderr=subprocess.PIPE, env=_env(env), cwd=ROOT,
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=120)
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8")
        proc.stderr.close()
        assert proc.returncode == 0, err
    finally:
        os.close(master)
    return b"".join(chunks).decode("utf-8")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_on_a_terminal_only() -> None:
    on_tty = _run_on_tty("check", SCAM)
    assert ANSI in on_tty
    assert "加我薇信" in on_tty
    assert ANSI not in _run("check", SCAM).out  # piped
    assert ANSI not in _run_on_tty("check", SCAM, env={"NO_COLOR": "1"})
    assert ANSI not in _run_on_tty("check", "--color", "never", SCAM)


def test_colour_can_be_forced() -> None:
    assert ANSI in _run("check", "--color", "always", SCAM).out


# -- rules validate ------------------------------------------------------------------------
def test_validate_bundled_pack(default_detector: chatguard.Detector) -> None:
    run = _run("rules", "validate", BUNDLED)
    assert run.code == 0, run.err
    assert run.out.startswith("ok:")
    assert default_detector.fingerprint in run.out
    assert f"{default_detector.rule_count} rules" in run.out


PACK = 'schema_version = 1\nid = "broken"\nversion = "1"\n'
GOOD = """\
schema_version = 1

[[rules]]
id = "good-rule"
title = "fine"
category = "money_transfer"
keywords = ["转账"]
examples.match = ["转账"]
examples.no_match = ["你好"]
"""
BAD_TAIL = """
[[rules]]
id = "bad-rule"
title = "broken"
category = "money_transfer"
keywords = ["转账"]
{line}
examples.match = ["转账"]
examples.no_match = ["你好"]
"""
# GOOD has 9 lines, BAD_TAIL's blank line is 10, [[rules]] 11, so {line} is line 16
BAD_LINE = 16


def _broken_pack(tmp_path: Path, line: str) -> Path:
    pack = tmp_path / "broken"
    (pack / "wordlists").mkdir(parents=True)
    (pack / "pack.toml").write_text(PACK, encoding="utf-8")
    (pack / "rules.toml").write_text(GOOD + BAD_TAIL.format(line=line), encoding="utf-8")
    return pack


@pytest.mark.parametrize(
    ("line", "field"),
    [
        pytest.param("bogus_field = 1", "bogus_field", id="unknown-field"),
        pytest.param('patterns = [{ name = "x", regex = "(a+)+$" }]', "patterns",
                     id="catastrophic-regex"),
        pytest.param('patterns = [{ name = "x", regex = "(unclosed" }]', "patterns",
                     id="invalid-regex"),
        pytest.param('keywords_file = "../../outside.txt"', "keywords_file",
                     id="keywords-file-outside-pack"),
        pytest.param('level = "severe"', "level", id="bad-level"),
    ],
)
def test_validate_broken_pack_names_the_place(tmp_path: Path, line: str, field: str) -> None:
    pack = _broken_pack(tmp_path, line)
    run = _run("rules", "validate", pack)
    assert run.code != 0
    assert run.out == ""
    assert "Traceback" not in run.err
    assert f"rules.toml:{BAD_LINE}" in run.err
    assert "'bad-rule'" in run.err
    assert field in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_validate_duplicate_rule_id(tmp_path: Path) -> None:
    pack = _broken_pack(tmp_path, "")
    rules = pack / "rules.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace('"bad-rule"', '"good-rule"'),
                     encoding="utf-8")
    run = _run("rules", "validate", pack)
    assert run.code != 0
    assert "Traceback" not in run.err
    assert "rules.toml:" in run.err
    assert "good-rule" in run.err


def test_validate_invalid_toml(tmp_path: Path) -> None:
    pack = _broken_pack(tmp_path, "")
    (pack / "rules.toml").write_text(GOOD + "\n[[rules]\nid = 1\n", encoding="utf-8")
    run = _run("rules", "validate", pack)
    assert run.code != 0
    assert "Traceback" not in run.err
    assert "rules.toml" in run.err


# -- rules test ----------------------------------------------------------------------------
def test_rules_test_bundled_pack(default_detector: chatguard.Detector) -> None:
    run = _run("rules", "test", BUNDLED)
    assert run.code == 0, run.out + run.err
    assert "FAIL" not in run.out
    summary = run.out.strip().splitlines()[-1]
    assert ", 0 failed" in summary
    expected = sum(len(r.spec.examples.match) + len(r.spec.examples.no_match)
                   for r in default_detector.ruleset.rules)
    assert summary.startswith(f"{expected} passed")


def test_rules_test_reports_a_failing_example(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.toml").write_text(PACK, encoding="utf-8")
    (pack / "rules.toml").write_text(GOOD + textwrap.dedent("""
        [[rules]]
        id = "wrong-example"
        title = "its match example cannot match"
        category = "money_transfer"
        keywords = ["汇款"]
        examples.match = ["今天天气不错"]
        examples.no_match = ["你好"]
    """), encoding="utf-8")
    run = _run("rules", "test", pack)
    assert run.code == 1
    assert "Traceback" not in run.err
    fails = [line for line in run.out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1
    assert "rules.toml:12" in fails[0]  # the line of the rule's id
    assert "'wrong-example'" in fails[0]
    assert "今天天气不错" in fails[0]
    assert "1 failed" in run.out


# -- rules schema --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rules", "pack"])
def test_rules_schema_is_a_json_schema_the_bundled_files_satisfy(kind: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    run = _run("rules", "schema", "--kind", kind)
    assert run.code == 0, run.err
    schema = json.loads(run.out)
    validator_cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    files = ([p for p in sorted(BUNDLED.glob("*.toml")) if p.name != "pack.toml"]
             if kind == "rules" else [BUNDLED / "pack.toml"])
    for path in files:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], path.name
    if kind == "rules":
        doc = tomllib.loads(GOOD.replace('title = "fine"', 'title = "fine"\nbogus = 1'))
        assert not validator.is_valid(doc)  # unknown fields are refused, as by the loader


def test_rules_schema_default_kind_is_rules() -> None:
    assert _run("rules", "schema").out == _run("rules", "schema", "--kind", "rules").out


# -- the example chats ---------------------------------------------------------------------
def test_example_chats_cover_the_pack(
    default_detector: chatguard.Detector, chats_json: list[dict[str, Any]]
) -> None:
    """README's quick start runs on these: ordinary chat stays quiet, and every category of
    the bundled pack shows up in some message."""
    assert 35 <= len(chats_json) <= 60
    seen = {f["category"] for r in chats_json for f in r["findings"] if not f["suppressed"]}
    assert seen == {r.spec.category for r in default_detector.ruleset.rules}
    quiet = [r for r in chats_json if r["level"] in ("none", "low")]
    loud = [r for r in chats_json if Level.parse(r["level"]) >= Level.HIGH]
    assert len(quiet) >= 10
    assert len(loud) >= 15
    assert {"medium", "high", "critical"} <= {r["level"] for r in chats_json}
