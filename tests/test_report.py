"""HTML reports (``chatguard.report``) and ``chatguard scan --report``.

The renderer gets hostile chat text (markup, ``&``, lone surrogates, control characters,
phone and card numbers) and must show it as text, masked, with every finding's highlight on
the characters it marked. The precision-recall math is checked against figures worked out
by hand. Scans run on ``tests/data/scan_chats.jsonl`` (twelve conversations, six scams);
the report must not depend on ``--workers``. A real headless Chromium opens the files and
the tests check the DOM it built and that no script ran.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chatguard
from chatguard.errors import ConfigError
from chatguard.privacy import mask_text
from chatguard.report import (
    BINS,
    MAX_SHOWN_CHARS,
    Curve,
    Figure,
    Histogram,
    Report,
    ShownConversation,
    ShownMessage,
    Span,
    Table,
    bin_of,
    clip_message,
    histogram_counts,
    mask_message,
    precision_recall,
    render_html,
    write_html,
)
from chatguard.scan import ScanOptions, run_scan

from .conftest import DATA, ROOT

FIXTURE = DATA / "scan_chats.jsonl"
SCAMS = {"c002", "c004", "c005", "c009", "c010", "c014"}
MARK = re.compile(r'<mark title="([^"]*)" data-rules="([^"]*)">(.*?)</mark>', re.S)
RUN_TILE = re.compile(r'<div class="tile" data-run>.*?</div></div>', re.S)

# hostile message: markup, an ampersand, a WeChat id (masked shorter), a QQ-like number
# (masked shorter), a phone, a card, a lone surrogate and a control character
HOSTILE = ("<script>document.title='pwned'</script>&amp; 加我微信 abc12345 或QQ 123456789，"
           "电话13812345678，卡号6222 0212 3456 7890 123 先转账\ud800\x07完")


def at(text: str, word: str, start: int = 0, rule: str = "") -> Span:
    """A span on the first ``word`` in ``text`` (from ``start``)."""
    i = text.index(word, start)
    return Span(i, i + len(word), rule or f"rule-{word}", "test")


def hostile_report() -> Report:
    spans = [at(HOSTILE, "微信"), at(HOSTILE, "13812345678", rule="rule-phone"),
             at(HOSTILE, "卡号"),
             at(HOSTILE, "转账"), Span(HOSTILE.index("转账"), HOSTILE.index("转账") + 1,
                                       'x" onmouseover="alert(1)', "<b>")]
    return Report(
        title="Scan <b>report</b> & co",
        subtitle="<img src=x onerror=alert(1)>",
        figures=[Figure("messages", "1,234"), Figure("flagged", "56", note="<i>x</i>"),
                 Figure("messages / second", "9,999", run=True)],
        histograms=[Histogram("scam", [0.9, 0.95, 1.0, 0.15]),
                    Histogram("benign", [0.0, 0.0, 0.1, 0.15])],
        curves=[Curve("rules A", [0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 1, 0])],
        tables=[Table("Per category", ["category", "precision", "n"],
                      [["transfer", 0.8125, 1234], ["<script>", None, 0]])],
        conversations=[ShownConversation(
            "c-<1>", 0.97, "critical", ["rule-转账"],
            [ShownMessage("13900001111", HOSTILE, 0.91, "critical", spans),
             ShownMessage("u2", "好的", 0.0, "none")],
            note="2 messages")],
        notes=["a note & more"],
    )


# ---------------------------------------------------------------------------------------
# escaping, masking, spans
# ---------------------------------------------------------------------------------------
def test_hostile_text_is_escaped_masked_and_encodable(tmp_path: Path) -> None:
    """Markup shows as text, personal data is masked, lone surrogates and controls become
    U+FFFD, and the file is valid UTF-8."""
    page = render_html(hostile_report())
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "<b>report" not in page
    assert "<i>x" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;&amp;amp;" in page
    assert "<title>Scan &lt;b&gt;report&lt;/b&gt; &amp; co</title>" in page
    for raw in ("13812345678", "0212", "abc12345", "123456789", "13900001111"):
        assert raw not in page
    assert "138****5678" in page
    assert mask_text("6222 0212 3456 7890 123") in page
    assert "139****1111" in page  # the sender, masked too
    assert "\ud800" not in page
    assert "\x07" not in page
    assert "\ufffd\ufffd完" in page
    path = write_html(hostile_report(), tmp_path / "r.html")
    assert path.read_bytes().decode("utf-8") == page
    # attribute values cannot be broken out of
    assert 'onmouseover="alert' not in page
    assert "x&quot; onmouseover=&quot;alert(1)" in page
    # no external anything: no URLs besides the SVG namespace, a CSP forbidding scripts
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page


def test_spans_land_on_the_masked_text() -> None:
    """Each highlight covers the characters its span marked, after masking moved them;
    a span touching a masked identifier covers the whole masked identifier."""
    page = render_html(hostile_report())
    marks = [(title, rules, text) for title, rules, text in MARK.findall(page)]
    by_rule: dict[str, list[str]] = {}
    for _, rules, text in marks:
        for r in rules.split():
            by_rule.setdefault(r, []).append(text)
    assert by_rule["rule-微信"] == ["微信 ab****"]
    assert by_rule["rule-phone"] == ["138****5678"]
    assert by_rule["rule-卡号"] == ["卡号"]
    # overlapping spans: split into stretches, never nested, titled with both rules
    assert by_rule["rule-转账"] == ["转", "账"]
    assert "<mark" not in "".join(t for _, _, t in marks)
    both = [m for m in marks if "rule-转账" in m[1] and "x&quot;" in m[1]]
    assert len(both) == 1
    assert both[0][2] == "转"
    assert "rule-转账 (test)" in both[0][0]
    assert "(&lt;b&gt;)" in both[0][0]


def test_mask_message_maps_offsets() -> None:
    text = "微信 abc12345 转账 QQ 123456789 转账"
    masked, spans = mask_message(text, [at(text, "转账"), at(text, "转账", 14),
                                        Span(6, 8, "inside", "x"), Span(28, 99, "clamped", "x"),
                                        Span(5, 5, "empty", "x"), Span(-3, 2, "neg", "x")])
    assert masked == mask_text(text) == "微信 ab**** 转账 QQ 12****89 转账"
    # the second 转账 comes after a 9 -> 8 character mask; the empty span is dropped
    assert [(s.rule_id, masked[s.start:s.end]) for s in spans] == [
        ("inside", "微信 ab****"), ("neg", "微信 ab****"), ("rule-转账", "转账"),
        ("clamped", "转账"), ("rule-转账", "转账")]
    assert mask_message("¥50000 转账", [Span(7, 9, "r", "c")]) == (
        "¥50000 转账", [Span(7, 9, "r", "c")])  # amounts are kept as written


def test_long_messages_are_clipped_around_their_spans() -> None:
    filler = "今天天气不错" * 2000
    text = filler + "请先转账五千" + filler + "加我微信 abc12345"
    masked, spans = mask_message(text, [at(text, "转账"), at(text, "微信")])
    shown, moved = clip_message(masked, spans)
    assert len(shown) < MAX_SHOWN_CHARS
    assert [shown[s.start:s.end] for s in moved] == ["转账", "微信 ab****"]
    assert shown.startswith(filler[:100])
    assert shown.count(" … ") == 2
    page = render_html(Report("long", conversations=[ShownConversation(
        "c", 0.5, "medium", [], [ShownMessage("u", text, 0.5, "medium", [at(text, "转账")])])]))
    assert [t for _, _, t in MARK.findall(page)] == ["转账"]
    assert "abc12345" not in page
    assert len(page) < 20_000


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------
def test_precision_recall_by_hand() -> None:
    """Thresholds 0.9 .. 0.5 on labels 1 0 1 1 0: P = 1, 1/2, 2/3, 3/4, 3/5 and
    R = 1/3, 1/3, 2/3, 1, 1; AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36."""
    pr = precision_recall([0.5, 0.9, 0.7, 0.8, 0.6], [0, 1, 1, 0, 1])
    assert pr.thresholds == (0.9, 0.8, 0.7, 0.6, 0.5)
    assert pr.precision == pytest.approx((1, 1 / 2, 2 / 3, 3 / 4, 3 / 5))
    assert pr.recall == pytest.approx((1 / 3, 1 / 3, 2 / 3, 1, 1))
    assert pr.average_precision == pytest.approx(29 / 36)
    assert (pr.positives, pr.negatives) == (3, 2)
    # tied scores enter together, whatever their order: P = 1/2 then 2/3, AP = 7/12
    for labels in ([1, 0, 1], [0, 1, 1]):
        tied = precision_recall([0.8, 0.8, 0.3], labels)
        assert tied.precision == pytest.approx((1 / 2, 2 / 3))
        assert tied.average_precision == pytest.approx(7 / 12)
    assert precision_recall([0.4, 0.2], [0, 0]).average_precision is None
    assert precision_recall([], []).thresholds == ()
    with pytest.raises(ConfigError, match="2 scores but 1 labels"):
        precision_recall([0.1, 0.2], [1])
    with pytest.raises(ConfigError, match="label 1 is 2"):
        precision_recall([0.1, 0.2], [1, 2])
    with pytest.raises(ConfigError, match="score 0 is nan"):
        precision_recall([float("nan")], [1])
    page = render_html(hostile_report())
    assert "rules A (AP 0.806, 3 positive, 2 negative)" in page
    assert 'data-ap="0.8056"' in page


def test_histogram_bins_and_counts() -> None:
    assert [bin_of(s) for s in (0.0, 0.0499, 0.05, 0.15, 0.35, 0.9999, 1.0, 1.5, -1,
                                float("nan"))] == [0, 0, 1, 3, 7, 19, 19, 19, 0, 0]
    assert histogram_counts([0.0, 0.15, 0.15, 1.0]) == [1, 0, 0, 2] + [0] * 15 + [1]
    page = render_html(hostile_report())
    rects = re.findall(r'<rect [^>]*fill="([^"]+)" data-bin="(\d+)" data-count="(\d+)"', page)
    assert len({c for c, _, _ in rects}) == 2  # two series side by side in one chart
    assert sorted((int(b), int(n)) for _, b, n in rects) == [
        (0, 2), (2, 1), (3, 1), (3, 1), (18, 1), (19, 2)]
    assert "scam (4)" in page
    assert "benign (4)" in page
    counts = [0] * BINS
    counts[0], counts[19] = 100_000, 3  # log scale keeps the few visible
    page = render_html(Report("h", histograms=[Histogram("m", (), counts=counts, unit="msgs")]))
    assert "msgs (log scale)" in page
    assert 'data-count="3"' in page
    with pytest.raises(ConfigError, match="3 counts, expected 20"):
        render_html(Report("h", histograms=[Histogram("m", (), counts=[1, 2, 3])]))


def test_empty_sections_are_left_out_or_say_no_data() -> None:
    page = render_html(Report("only a title"))
    assert "<h1>only a title</h1>" in page
    for absent in ("<svg", "<table", "Riskiest", "Notes", 'class="tiles"'):
        assert absent not in page
    page = render_html(Report("empty", histograms=[Histogram("x", [])],
                              tables=[Table("Nothing", ["a", "b"], [])],
                              curves=[Curve("c", [0.1], [0])]))
    assert page.count("no data") == 2
    assert "c (no positive labels)" in page


def test_table_cells_are_formatted() -> None:
    page = render_html(Report("t", tables=[Table("T", ["a", "b", "c", "d"], [
        [1234567, 0.81234, None, 12345.6], [0, 0.0, "x", float("nan")]])]))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    assert cells == ["1,234,567", "0.8123", "—", "12,346", "0", "0", "x", "—"]


# ---------------------------------------------------------------------------------------
# chatguard scan --report
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def det(default_detector: chatguard.Detector) -> chatguard.Detector:
    return default_detector


def scan_report(det: chatguard.Detector, folder: Path, **opts: Any) -> tuple[str, Path]:
    options = ScanOptions(inputs=(str(FIXTURE),), results=folder / "results.jsonl",
                          events=folder / "events.jsonl", report=folder / "report.html",
                          quiet=True, **opts)
    summary = run_scan(options, detector=det)
    assert summary.exit_code == 0
    assert summary.to_dict()["outputs"]["report"] == str(folder / "report.html")
    assert f"report:    {folder / 'report.html'}" in summary.render()
    return (folder / "report.html").read_text(encoding="utf-8"), folder


def shown_ids(page: str) -> list[str]:
    return re.findall(r'<article class="conv" data-conversation="([^"]+)"', page)


def test_scan_report_shows_the_riskiest_conversations(det, tmp_path) -> None:
    """The top conversations by peak conversation score (ties by id), as the results file
    says; the histograms count every message and conversation; texts are masked."""
    page, out = scan_report(det, tmp_path / "a", report_top=4)
    results = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    peak: dict[str, float] = {}
    for r in results:
        peak[r["conversation_id"]] = max(peak.get(r["conversation_id"], 0.0),
                                         r["conversation_score"])
    expected = sorted(peak, key=lambda c: (-peak[c], c))[:4]
    assert shown_ids(page) == expected
    assert set(expected) <= SCAMS
    message_counts = histogram_counts([r["score"] for r in results])
    charts = page.split('<div class="chartbox">')[1:]
    assert len(charts) == 2
    assert "Message scores" in charts[0]
    got = [0] * BINS
    for b, n in re.findall(r'data-bin="(\d+)" data-count="(\d+)"', charts[0]):
        got[int(b)] = int(n)
    assert got == message_counts
    conv_counts = histogram_counts(list(peak.values()))
    got = [0] * BINS
    for b, n in re.findall(r'data-bin="(\d+)" data-count="(\d+)"', charts[1]):
        got[int(b)] = int(n)
    assert got == conv_counts
    assert '<div class="v">131</div><div class="l">messages</div>' in page
    assert '<div class="v">12</div><div class="l">conversations</div>' in page
    # every finding of a shown message is highlighted, on its (masked) matched text
    rows = {json.loads(x)["message_id"]: json.loads(x) for x in FIXTURE.read_text(
        "utf-8").splitlines()}
    shown_findings = [f for r in results if r["conversation_id"] in expected
                      for f in r["findings"]]
    marked = {rules for _, rules, _ in MARK.findall(page)}
    assert {f["rule_id"] for f in shown_findings} <= {r for m in marked for r in m.split()}
    assert not re.search(r"1[3-9]\d{9}", page)
    assert all(mask_text(r["text"]) == r["text"] or r["text"] not in page
               for r in rows.values())


def test_scan_report_is_the_same_for_any_number_of_workers(det, tmp_path) -> None:
    """Only the run tiles (throughput, workers) differ between 1 and 2 workers."""
    one, _ = scan_report(det, tmp_path / "w1", workers=1)
    two, _ = scan_report(det, tmp_path / "w2", workers=2)
    assert len(RUN_TILE.findall(one)) == 1
    assert RUN_TILE.sub("", one) == RUN_TILE.sub("", two)
    assert len(shown_ids(one)) == 12  # default top 20: every conversation of the fixture


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatguard", "scan", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_scan_report_command_line(tmp_path) -> None:
    """``--report`` from the command line; bad report options exit 2 with a clear error."""
    base = [str(FIXTURE), "--results", str(tmp_path / "r.jsonl"),
            "--events", str(tmp_path / "e.jsonl")]
    p = run_cli(*base, "--report", str(tmp_path / "report.html"), "--report-top", "2")
    assert p.returncode == 0, p.stderr
    assert f"report:    {tmp_path / 'report.html'}" in p.stderr
    assert len(shown_ids((tmp_path / "report.html").read_text("utf-8"))) == 2
    for extra, message in (
        (["--report-top", "3"], "--report-top needs --report"),
        (["--report", str(tmp_path / "x.html"), "--report-top", "0"],
         "report_top must be at least 1"),
        (["--report", str(tmp_path / "r.jsonl")], "--report must differ"),
        (["--report", str(FIXTURE)], "is also an input"),
        (["--report", str(tmp_path / "missing" / "dir" / "x.html")], None),
    ):
        p = run_cli(*base, *extra)
        if message is None:  # parent folders are created, as for the other outputs
            assert p.returncode == 0, p.stderr
            continue
        assert p.returncode == 2, (extra, p.stderr)
        assert message in p.stderr
        assert "Traceback" not in p.stderr


# ---------------------------------------------------------------------------------------
# a real browser
# ---------------------------------------------------------------------------------------
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (scripts/check.sh installs the Debian package "
                "'chromium')")


def browse(tmp_path: Path, page: Path, *flags: str) -> str:
    p = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", *flags, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_chromium_shows_the_report_and_runs_no_script(tmp_path) -> None:
    """Chromium's DOM of the hostile report: the title untouched by the message's script,
    the figures, the table values, the highlights, the message markup shown as text."""
    path = write_html(hostile_report(), tmp_path / "hostile.html")
    dom = browse(tmp_path, path, "--dump-dom", "--virtual-time-budget=2000")
    assert "<title>Scan &lt;b&gt;report&lt;/b&gt; &amp; co</title>" in dom
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom, re.S)[1]  # type: ignore[index]
    assert "<script" not in dom.lower()
    assert "<img" not in dom.lower()
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    for value in ("1,234", "56", "9,999", "0.8125", "rules A (AP 0.806"):
        assert value in dom
    assert [t for _, _, t in MARK.findall(dom)][:2] == ["微信 ab****", "138****5678"]
    assert "13812345678" not in dom
    assert dom.count("<svg") == 2
    assert dom.count("<rect") == 6
    assert "<polyline" in dom

    # second layer: even markup that got past escaping cannot run (the page's CSP)
    injected = tmp_path / "injected.html"
    injected.write_text(path.read_text("utf-8").replace(
        "</header>", "<script>document.title='pwned'</script></header>"), encoding="utf-8")
    dom = browse(tmp_path, injected, "--dump-dom", "--virtual-time-budget=2000")
    assert "<script>document.title='pwned'</script>" in dom  # parsed as a script ...
    assert "<title>Scan &lt;b&gt;report&lt;/b&gt; &amp; co</title>" in dom  # ... not run

    pdf = tmp_path / "hostile.pdf"  # printable
    browse(tmp_path, path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes().startswith(b"%PDF")

    shot = tmp_path / "hostile.png"
    browse(tmp_path, path, f"--screenshot={shot}", "--window-size=1000,2400")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 2400)


def test_chromium_opens_a_scan_report(det, tmp_path) -> None:
    """A scan's report as the browser parses it: the riskiest conversation ids, their
    highlighted findings and the summary figures."""
    page, out = scan_report(det, tmp_path / "s", report_top=3)
    dom = browse(tmp_path, out / "report.html", "--dump-dom")
    assert shown_ids(dom) == shown_ids(page)
    assert len(shown_ids(dom)) == 3
    assert len(MARK.findall(dom)) >= 3
    assert "Message scores" in dom
    assert "Top rules" in dom
    assert ">131<" in dom
