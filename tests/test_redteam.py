"""``chatguard redteam``: the disguise generators, a run on a two-rule pack, the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import chatguard
from chatguard._tables import read_table
from chatguard.errors import ConfigError
from chatguard.redteam import (
    HOMOPHONES,
    S2T,
    SPLIT_RADICALS,
    TRICKS,
    RedTeamOptions,
    RedTeamReport,
    run_redteam,
)

PACK = Path(__file__).parent / "data" / "redteam"
# tricks the rule with the default expansions survives completely on this pack
GATE_TRICKS = ("spaces", "symbols", "emoji", "traditional", "pinyin", "initials", "split")


def gen(trick: str, kw: str, n: int = 3, seed: int = 0) -> list[tuple[str, ...]]:
    return TRICKS[trick].generate(kw, random.Random(seed), n)


@pytest.fixture(scope="module")
def det() -> chatguard.Detector:
    return chatguard.Detector.from_rules(PACK)


@pytest.fixture(scope="module")
def gated(det: chatguard.Detector) -> RedTeamReport:
    return run_redteam(RedTeamOptions(tricks=GATE_TRICKS, seed=7), det)


# -- generators -----------------------------------------------------------------------------
@pytest.mark.parametrize(("trick", "fill"), [("spaces", " \u3000"), ("symbols", "*.-|~_/·#+=^")])
def test_inserting_tricks_only_add_their_characters(trick: str, fill: str) -> None:
    """Spaces / symbols go between the characters; removing them gives the keyword back,
    and the first sample fills every gap."""
    variants = gen(trick, "银行卡")
    assert len(variants) == 3
    for (v,) in variants:
        assert "".join(ch for ch in v if ch not in fill) == "银行卡"
        assert v != "银行卡"
    first = variants[0][0]
    assert first[0] == "银"
    assert first[-1] == "卡"
    assert all(ch not in "银行卡" for ch in first[1 : first.index("行")])
    assert all(ch not in "银行卡" for ch in first[first.index("行") + 1 : -1])


def test_emoji_go_between_characters() -> None:
    (v,) = gen("emoji", "转账", n=1)[0]
    assert v[0] == "转"
    assert v[-1] == "账"
    assert len(v) > 2
    assert all(ord(ch) > 0x2000 for ch in v[1:-1])


def test_traditional_gives_the_traditional_word() -> None:
    assert gen("traditional", "转账")[0] == ("轉賬",)
    assert gen("traditional", "银行卡")[0] == ("銀行卡",)
    assert gen("traditional", "usdt") == []  # nothing to convert: not applicable


def test_pinyin_and_initials() -> None:
    assert gen("pinyin", "转账")[0] == ("zhuanzhang",)
    assert ("zhuan zhang",) in gen("pinyin", "转账")
    assert gen("initials", "银行卡")[0] == ("yhk",)
    assert gen("initials", "u币") == [("ub",), ("UB",)]  # Latin kept, hanzi initial
    assert gen("pinyin", "usdt") == []


def test_homophones_substitute_sound_alikes_from_the_own_table() -> None:
    variants = gen("homophones", "转账", n=4)
    assert variants
    for (v,) in variants:
        assert len(v) == 2
        assert v != "转账"
        for orig, got in zip("转账", v, strict=True):
            assert got == orig or got in HOMOPHONES[orig]


def test_radicals_split_characters_into_components() -> None:
    assert gen("radicals", "转账")[0] == ("车专贝长",)
    assert gen("radicals", "银")[0] == ("钅艮",)
    assert SPLIT_RADICALS["转"] == "车专"


def test_fullwidth_and_case_apply_to_latin_only() -> None:
    assert gen("fullwidth", "usdt")[0] == ("ｕｓｄｔ",)
    assert gen("fullwidth", "转账") == []
    variants = gen("case", "usdt", n=3)
    assert variants[0] == ("USDT",)
    assert all(v.lower() == "usdt" and v != "usdt" for (v,) in variants)
    assert gen("case", "转账") == []


def test_digits_rewrite_numbers_not_words() -> None:
    forms = {v for (v,) in gen("digits", "trc20", n=5)}
    assert {"trc二〇", "trc贰零", "trc②⓪", "trc２０"} <= forms
    assert ("5千",) in gen("digits", "五千", n=5)
    assert gen("digits", "一起") == []  # the 一 of 一起 is not a number
    assert gen("digits", "转账") == []


def test_split_cuts_the_keyword_in_two_messages() -> None:
    variants = gen("split", "银行卡", n=3)
    assert variants == [("银", "行卡"), ("银行", "卡")]  # the middle cut first, then the rest
    assert all("".join(v) == "注销校园贷" for v in gen("split", "注销校园贷", n=4))
    assert gen("split", "v") == []


def test_generators_are_deterministic_for_a_seed() -> None:
    for name in TRICKS:
        assert gen(name, "银行卡转账", seed=3) == gen(name, "银行卡转账", seed=3)


def test_own_tables_are_not_the_detectors_tables() -> None:
    """The homophone and split tables are the red team's own: most of their substitutes are
    not in the detector's tables, or every variant would be caught by construction."""
    project = {k: set(v.replace("|", "")) for k, v in read_table("homophones.tsv")}
    pairs = [(k, a) for k, alts in HOMOPHONES.items() for a in alts]
    shared = sum(1 for k, a in pairs if a in project.get(k, set()))
    assert len(pairs) > 500
    assert shared / len(pairs) < 0.3
    assert len(S2T) > 300


# -- a run on the two-rule pack ---------------------------------------------------------------
def test_rule_with_expansions_off_misses_and_the_other_does_not(gated: RedTeamReport) -> None:
    by_id = {r.rule_id: r for r in gated.rules}
    guarded, bare = by_id["rt-transfer"], by_id["rt-red-packet-bare"]
    assert guarded.probes == 2
    assert bare.probes == 1
    assert guarded.total.missed == 0
    assert guarded.total.variants == 35
    assert bare.tricks["pinyin"].missed == 3
    assert bare.tricks["pinyin"].variants == 3
    assert bare.tricks["initials"].missed == 2
    # the normalizer folds spaces, symbols, emoji and traditional characters for every rule
    for trick in ("spaces", "symbols", "emoji", "traditional", "split"):
        assert bare.tricks[trick].missed == 0
        assert bare.tricks[trick].variants > 0


def test_per_trick_counts(gated: RedTeamReport) -> None:
    per = {k: (t.variants, t.caught, t.missed) for k, t in gated.per_trick.items()}
    assert per == {
        "spaces": (9, 9, 0), "symbols": (9, 9, 0), "emoji": (9, 9, 0),
        "traditional": (7, 7, 0), "pinyin": (9, 6, 3), "initials": (6, 4, 2),
        "split": (5, 5, 0),
    }
    assert gated.overall.variants == 54
    assert gated.overall.missed == 5
    assert {m.reason for m in gated.misses} == {"rule"}
    assert {m.rule_id for m in gated.misses} == {"rt-red-packet-bare"}


@pytest.mark.parametrize(("max_rate", "code"), [(0.1, 0), (0.0926, 0), (0.09, 1), (0.0, 1)])
def test_exit_status_around_the_max_miss_rate(det: chatguard.Detector, max_rate: float,
                                              code: int) -> None:
    """5 misses in 54 variants is a 9.26% miss rate."""
    report = run_redteam(RedTeamOptions(tricks=GATE_TRICKS, seed=7, max_miss_rate=max_rate),
                         det)
    assert report.exit_code == code


def test_not_applicable_is_not_a_pass(det: chatguard.Detector) -> None:
    """No keyword of the pack has Latin letters: case and full-width are n/a, not 0%."""
    report = run_redteam(RedTeamOptions(tricks=("case", "fullwidth"), max_miss_rate=0.0), det)
    data = report.to_dict()
    assert data["per_trick"] == {"case": "n/a", "fullwidth": "n/a"}
    assert report.per_trick["case"].not_applicable == 3
    assert "n/a" in report.render()


def test_split_goes_through_the_guard_as_two_messages(gated: RedTeamReport) -> None:
    """Every split of 转账 / 银行卡 / 发红包 in two messages of one sender is caught."""
    assert gated.per_trick["split"].caught == 5


def test_run_is_deterministic_and_masked(det: chatguard.Detector) -> None:
    a = run_redteam(RedTeamOptions(seed=11), det).to_dict()
    b = run_redteam(RedTeamOptions(seed=11), det).to_dict()
    a.pop("seconds")
    b.pop("seconds")
    assert a == b
    assert all("\u23ce" in m["text"] for m in a["misses"] if m["trick"] == "split")


def test_bad_options_are_config_errors(det: chatguard.Detector) -> None:
    with pytest.raises(ConfigError, match="unknown trick 'bogus'"):
        run_redteam(RedTeamOptions(tricks=("bogus",)), det)
    with pytest.raises(ConfigError, match="unknown rule 'nope'"):
        run_redteam(RedTeamOptions(rule_ids=("nope",)), det)
    with pytest.raises(ConfigError, match="samples"):
        run_redteam(RedTeamOptions(samples=0), det)


# -- the command line -------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatguard", "redteam", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_json() -> None:
    proc = cli("--rules", str(PACK), "--json", "--tricks", "pinyin,spaces",
               "--rule", "rt-red-packet-bare", "--max-miss-rate", "0.4")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pack"] == "test-redteam@1"
    assert data["per_trick"]["pinyin"]["missed"] == 3
    assert data["per_trick"]["spaces"]["missed"] == 0
    assert data["overall"]["miss_rate"] == 0.5
    assert data["passed"] is False
    assert [r["rule_id"] for r in data["rules"]] == ["rt-red-packet-bare"]
    assert {m["text"] for m in data["misses"]} == {
        "今天情人节fahongbao嘛宝贝", "今天情人节fa hong bao嘛宝贝", "今天情人节FaHongBao嘛宝贝"}


def test_cli_text_report_passes_under_a_loose_gate() -> None:
    proc = cli("--rules", str(PACK), "--tricks", "spaces,symbols", "--max-miss-rate", "0")
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout
    assert "spaces" in proc.stdout


@pytest.mark.parametrize("args", [
    ("--rules", str(PACK), "--tricks", "spaces,bogus"),
    ("--rules", str(PACK / "missing")),
    ("--rules", str(PACK), "--rule", "nope"),
    ("--rules", str(PACK), "--max-miss-rate", "1.5"),
    ("--rules", str(PACK), "--tricks", ","),
])
def test_cli_bad_usage_exits_2_with_one_line(args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("chatguard: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_carrier_words_never_rescue_a_variant(tmp_path: Path) -> None:
    """A same-category rule that fires on the carrier sentence alone (情人节 in the red-packet
    carrier) must not count the pinyin of 发红包 as caught; a Latin keyword gets n/a for
    pinyin and real variants for case."""
    (tmp_path / "pack.toml").write_text(
        'schema_version = 1\nid = "rt-carrier"\nversion = "1"\n', encoding="utf-8")
    (tmp_path / "rules.toml").write_text("""schema_version = 1

[[rules]]
id = "rt-bare"
title = "Red packet, no expansions"
category = "red_packet"
level = "high"
keywords = ["发红包"]
variants = []
examples.match = ["发红包嘛"]
examples.no_match = ["红色的包"]

[[rules]]
id = "rt-festival"
title = "Festival word"
category = "red_packet"
level = "low"
keywords = ["情人节"]
examples.match = ["情人节快乐"]
examples.no_match = ["今天周一"]

[[rules]]
id = "rt-usdt"
title = "USDT"
category = "crypto"
level = "medium"
keywords = ["usdt"]
examples.match = ["买点usdt"]
examples.no_match = ["买点菜"]
""", encoding="utf-8")
    report = run_redteam(RedTeamOptions(tricks=("pinyin", "case"), rule_ids=("rt-bare", "rt-usdt")),
                         chatguard.Detector.from_rules(tmp_path))
    by_id = {r.rule_id: r for r in report.rules}
    assert by_id["rt-bare"].tricks["pinyin"].missed == 3
    assert by_id["rt-bare"].tricks["case"].not_applicable == 1
    assert by_id["rt-usdt"].tricks["pinyin"].variants == 0
    assert by_id["rt-usdt"].tricks["pinyin"].not_applicable == 1
    assert by_id["rt-usdt"].tricks["case"].caught == 3
    assert by_id["rt-usdt"].to_dict()["tricks"]["pinyin"] == "n/a"
