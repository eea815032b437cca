"""Chat-fraud detection for dating platforms: score messages, scan logs, measure rule packs.

``check`` scores messages given as arguments, from a file or stdin; ``rules validate`` /
``rules test`` / ``rules schema`` serve rule authors; ``scan`` runs chat logs through the
conversation guard; ``eval``, ``redteam`` and ``fit`` measure and tune rule packs (each
command's code lives in its own module). Errors print one line that names the place (file
and line) and exit 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .errors import ChatguardError

__all__ = ["main"]

_LEVEL_COLORS = {"none": "", "low": "\x1b[36m", "medium": "\x1b[33m", "high": "\x1b[31m",
                 "critical": "\x1b[1;41;97m"}
_RESET = "\x1b[0m"
_MARK = "\x1b[1;4;31m"


def _use_color(stream: TextIO, mode: str) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _build_parser() -> argparse.ArgumentParser:
    first_line = __doc__.splitlines()[0] if __doc__ else None
    p = argparse.ArgumentParser(prog="chatguard", description=first_line)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="score messages (arguments, --file, or stdin with '-')")
    c.add_argument("text", nargs="*",
                   help="message text; '-' reads one message per line from stdin")
    c.add_argument("--file", "-f", help="read one message per line from this file")
    c.add_argument("--rules", action="append", metavar="DIR",
                   help="rule pack directory (repeatable; default: the bundled zh-CN pack)")
    c.add_argument("--json", action="store_true", help="one JSON verdict per line")
    c.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    c.add_argument("--min-level", choices=["none", "low", "medium", "high", "critical"],
                   default="none", help="only print verdicts at or above this level")

    r = sub.add_parser("rules", help="validate, test and describe rule packs")
    rsub = r.add_subparsers(dest="rules_command", required=True)
    v = rsub.add_parser("validate", help="load and compile packs; report the first error")
    v.add_argument("dirs", nargs="+")
    t = rsub.add_parser("test", help="run every rule's match / no_match examples")
    t.add_argument("dirs", nargs="+")
    t.add_argument("--verbose", "-v", action="store_true")
    s = rsub.add_parser("schema", help="print the JSON Schema of rule files and pack.toml")
    s.add_argument("--kind", choices=["rules", "pack"], default="rules")

    from .scan import add_scan_parser

    add_scan_parser(sub)
    from .fit import add_fit_parser

    add_fit_parser(sub)
    from .redteam import add_redteam_parser

    add_redteam_parser(sub)
    from .evaluate import add_eval_parser

    add_eval_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "check":
            return _cmd_check(args)
        if args.command == "rules":
            return _cmd_rules(args)
        if args.command == "scan":
            from .scan import run_scan_command

            return run_scan_command(args)
        if args.command == "fit":
            from .fit import run_fit_command

            return run_fit_command(args)
        if args.command == "redteam":
            from .redteam import run_redteam_command

            return run_redteam_command(args)
        if args.command == "eval":
            from .evaluate import run_eval_command

            return run_eval_command(args)
    except ChatguardError as exc:
        print(f"chatguard: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `chatguard check -f big.txt | head`
        return 0
    return 2  # pragma: no cover - argparse enforces a command


def _detector(rules: Sequence[str] | None):  # type: ignore[no-untyped-def]
    from .detector import Detector

    return Detector.from_rules(*rules) if rules else Detector.default()


def _cmd_check(args: argparse.Namespace) -> int:
    from .models import Level

    texts: list[str] = []
    if args.file:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                texts.extend(line.rstrip("\r\n") for line in fh)
        except OSError as exc:
            print(f"chatguard: error: {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    for t in args.text:
        if t == "-":
            texts.extend(line.rstrip("\r\n") for line in sys.stdin)
        else:
            texts.append(t)
    if not texts:
        print("chatguard: error: give a message, --file PATH, or '-' for stdin", file=sys.stderr)
        return 2
    det = _detector(args.rules)
    verdicts = det.check_many(texts)
    floor = Level.parse(args.min_level)
    color = _use_color(sys.stdout, args.color)
    worst = Level.NONE
    for text, verdict in zip(texts, verdicts, strict=True):
        worst = max(worst, verdict.level_value)
        if verdict.level_value < floor:
            continue
        if args.json:
            print(json.dumps({"text": text, **verdict.to_dict()}, ensure_ascii=False))
        else:
            _print_human(text, verdict, color)
    return 0


def _print_human(text: str, verdict, color: bool) -> None:  # type: ignore[no-untyped-def]
    level = verdict.level
    tag = f"{level.upper():8}"
    if color and _LEVEL_COLORS[level]:
        tag = f"{_LEVEL_COLORS[level]}{tag}{_RESET}"
    shown = _highlight(text, verdict, color)
    print(f"{tag} {verdict.score:.2f}  {shown}")
    for f in verdict.findings:
        state = " (suppressed)" if f.suppressed else ""
        print(f"           [{f.start}:{f.end}] {f.matched!r} -> {f.explanation}{state}")


def _highlight(text: str, verdict, color: bool) -> str:  # type: ignore[no-untyped-def]
    spans = sorted((f.start, f.end) for f in verdict.findings if not f.suppressed)
    if not spans:
        return text
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out: list[str] = []
    pos = 0
    for s, e in merged:
        out.append(text[pos:s])
        out.append(f"{_MARK}{text[s:e]}{_RESET}" if color else f"[{text[s:e]}]")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_command == "schema":
        from .rules.schema import PackFile, RuleFile

        model = RuleFile if args.kind == "rules" else PackFile
        print(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2))
        return 0
    det = _detector(args.dirs)
    if args.rules_command == "validate":
        print(f"ok: {det.ruleset.name}: {det.rule_count} rules, {det.keyword_count} automaton "
              f"keys, fingerprint {det.fingerprint}")
        return 0
    from .rules.examples import run_examples

    results = run_examples(det)
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {r.describe()}")
    if args.verbose:
        for r in results:
            if r.passed:
                print(f"ok   {r.rule_id} {r.kind}: {r.text}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed "
          f"({det.rule_count} rules, {det.ruleset.name})")
    return 1 if failed else 0
