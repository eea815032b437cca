"""Speed and memory of the message detector, as ratios against a bare Aho-Corasick pass.

In one run, on one seeded synthetic corpus (``benchmarks/corpus.py``: short dating chat,
about 2% risky, some of it disguised):

a. **baseline**: a bare ``ahocorasick.Automaton`` holding the detector's own keys (every
   keyword, variant, near word, context word and identifier cue of the bundled pack),
   iterated over every raw message: ``for _ in A.iter(text): pass``. This is the floor a
   keyword scanner with that vocabulary costs in Python;
b. ``Detector.check`` per message; target ratio check / baseline >= 0.5;
c. ``Detector.check_many`` in batches of ``--batch`` (1000); target ratio >= 0.8;
f. **floor**: what ``check`` pays on every message before any analysis (the character
   class search that decides on folding, the noise strip, one pass of the bare automaton
   over the stripped text): the best ratio a detector built this way could reach;

each the best of ``--repeat`` runs, taken round-robin (a, b, c, a, b, c, ...) so that the
three sample the same stretches of a noisy machine, in CPU seconds of this process
(steadier than wall time on a shared machine; ``--wall`` switches). It also checks that
``check_many`` returns exactly the verdicts of ``check`` on the whole corpus, and then, in
fresh subprocesses:

d. **cold start**: ``import chatguard; d = chatguard.Detector.default(); d.check("加我薇信")``,
   wall time inside the child, median of ``--cold-runs`` (3); target <= 1.5 s;
e. **memory**: RSS after importing numpy, pydantic, ahocorasick and jieba (the baseline a
   host application already pays for the dependencies), then after building the detector
   and checking 1000 risky corpus messages (so the private jieba tokenizer is loaded);
   the total and the delta attributable to the detector; target total <= 100 MB.

Run: ``python benchmarks/bench_throughput.py [--n N] [--repeat R] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ahocorasick

import chatguard
from chatguard.models import LEVEL_NAMES, Level
from chatguard.normalize import NOISE_RE

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from corpus import DEFAULT_N, DEFAULT_SEED, generate  # noqa: E402

__all__ = [
    "TARGETS",
    "bare_automaton",
    "best_of",
    "best_of_interleaved",
    "cold_start",
    "compare_verdicts",
    "detector_keys",
    "measure_throughput",
    "memory",
    "run_baseline",
    "run_check",
    "run_check_many",
]

#: The issue's targets: ratios (higher is better), seconds and megabytes (lower is better).
TARGETS = {
    "check_ratio": 0.5,
    "check_many_ratio": 0.8,
    "cold_start_s": 1.5,
    "rss_total_mb": 100.0,
}
COLD_MESSAGE = "加我薇信"


# ---------------------------------------------------------------------------------------
# the baseline
# ---------------------------------------------------------------------------------------
def detector_keys(det: chatguard.Detector) -> list[str]:
    """Every string the detector's automata match: the analysis automaton (keywords,
    variants, near groups, context words) plus the prefilter's extra keys (identifier cues).

    There is no public accessor, so this reads the compiled rules' two
    ``KeywordAutomaton`` adapters (``chatguard._ahocorasick``) and the pyahocorasick
    automata inside them.
    """
    rules = det._rules
    keys: dict[str, None] = {}
    for adapter in (rules.automaton, rules.trigger):
        keys.update(dict.fromkeys(adapter._automaton.keys()))
    return list(keys)


def bare_automaton(keys: Sequence[str]) -> Any:
    """A plain pyahocorasick automaton over ``keys`` (value: the key length)."""
    a = ahocorasick.Automaton()
    for k in keys:
        a.add_word(k, len(k))
    a.make_automaton()
    return a


# ---------------------------------------------------------------------------------------
# the measured loops (each returns what it computed, so nothing is optimised away
# and the verdicts can be compared)
# ---------------------------------------------------------------------------------------
def run_baseline(automaton: Any, texts: Sequence[str]) -> int:
    """One pass of the bare automaton over every message; returns the number of hits."""
    hits = 0
    it = automaton.iter
    for t in texts:
        for _ in it(t):
            hits += 1
    return hits


def run_floor(det: chatguard.Detector, automaton: Any, texts: Sequence[str]) -> int:
    """What every message costs ``check`` before any analysis: the character-class search
    (does it need folding?), the noise strip and one automaton pass, here with the bare
    automaton. No detector can skip these; the rest of ``check``'s time is analysis."""
    hits = 0
    it = automaton.iter
    slow = det._slow_chars.search
    sub = NOISE_RE.sub
    for t in texts:
        if slow(t) is not None:
            hits += 1
        for _ in it(sub("", t)):
            hits += 1
    return hits


def run_check(det: chatguard.Detector, texts: Sequence[str]) -> list[chatguard.Verdict]:
    check = det.check
    return [check(t) for t in texts]


def run_check_many(det: chatguard.Detector,
                   batches: Sequence[list[str]]) -> list[chatguard.Verdict]:
    out: list[chatguard.Verdict] = []
    check_many = det.check_many
    for b in batches:
        out.extend(check_many(b))
    return out


def best_of(repeat: int, fn: Callable[[], object], *, wall: bool = False) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds (CPU time unless ``wall``)."""
    clock = time.perf_counter if wall else time.process_time
    best = float("inf")
    for _ in range(max(repeat, 1)):
        gc.collect()
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def best_of_interleaved(repeat: int, fns: Sequence[Callable[[], object]], *,
                        wall: bool = False) -> list[float]:
    """The fastest of ``repeat`` runs of each of ``fns``, run round-robin (a, b, c, a, b,
    c, ...) so that every measure samples the same stretches of a noisy machine and their
    ratios stay comparable."""
    clock = time.perf_counter if wall else time.process_time
    best = [float("inf")] * len(fns)
    for _ in range(max(repeat, 1)):
        for i, fn in enumerate(fns):
            gc.collect()
            t = clock()
            fn()
            best[i] = min(best[i], clock() - t)
    return best


def compare_verdicts(a: Sequence[chatguard.Verdict], b: Sequence[chatguard.Verdict],
                     texts: Sequence[str]) -> tuple[int, list[str]]:
    """(number of differing verdicts, up to five of the texts they differ on)."""
    if len(a) != len(b):
        return abs(len(a) - len(b)) + sum(x != y for x, y in zip(a, b, strict=False)), []
    bad = [t for t, x, y in zip(texts, a, b, strict=True) if x != y]
    return len(bad), bad[:5]


def measure_throughput(det: chatguard.Detector, texts: Sequence[str], *, repeat: int = 3,
                       batch: int = 1000, wall: bool = False,
                       labels: Sequence[int] | None = None) -> dict[str, Any]:
    """Messages per second of (a) the bare automaton, (b) ``check``, (c) ``check_many``,
    their ratios, and whether ``check_many`` gave the same verdicts as ``check``. With
    ``labels`` (1 risky), also how many risky / benign messages reached low and medium."""
    texts = list(texts)
    n = len(texts)
    keys = detector_keys(det)
    automaton = bare_automaton(keys)
    batches = [texts[i : i + batch] for i in range(0, n, batch)]
    # warm up: the tokenizer loads, code paths and caches settle (untimed)
    det.warm_up()
    head = texts[: min(n, 5000)]
    run_check(det, head)
    det.check_many(head)
    run_baseline(automaton, head)

    results: dict[str, list[chatguard.Verdict]] = {}

    def check() -> None:
        results["check"] = run_check(det, texts)

    def check_many() -> None:
        results["check_many"] = run_check_many(det, batches)

    t_base, t_check, t_many, t_floor = best_of_interleaved(
        repeat, [lambda: run_baseline(automaton, texts), check, check_many,
                 lambda: run_floor(det, automaton, texts)], wall=wall
    )
    mismatches, examples = compare_verdicts(results["check"], results["check_many"], texts)
    levels: dict[str, int] = {}
    for v in results["check"]:
        levels[v.level] = levels.get(v.level, 0) + 1
    flagged: dict[str, Any] = {}
    if labels is not None:
        for name, lv in (("low", Level.LOW), ("medium", Level.MEDIUM)):
            hits = [v.level_value >= lv for v in results["check"]]
            flagged[f"risky_{name}"] = sum(h for h, y in zip(hits, labels, strict=True) if y)
            flagged[f"benign_{name}"] = sum(h for h, y in zip(hits, labels, strict=True)
                                            if not y)
        flagged["benign_flagged_examples"] = [
            t for t, v, y in zip(texts, results["check"], labels, strict=True)
            if not y and v.level_value >= Level.LOW
        ][:10]

    def rate(t: float) -> float:
        return n / t if t > 0 else float("inf")

    return {
        "messages": n,
        "keys": len(keys),
        "batch": batch,
        "repeat": repeat,
        "clock": "wall" if wall else "cpu",
        "baseline_hits": run_baseline(automaton, texts),
        "baseline_msgs_per_s": rate(t_base),
        "check_msgs_per_s": rate(t_check),
        "check_many_msgs_per_s": rate(t_many),
        "check_ratio": t_base / t_check if t_check > 0 else float("inf"),
        "check_many_ratio": t_base / t_many if t_many > 0 else float("inf"),
        "floor_msgs_per_s": rate(t_floor),
        "floor_ratio": t_base / t_floor if t_floor > 0 else float("inf"),
        "floor_us_per_msg": t_floor / n * 1e6 if n else 0.0,
        "check_us_per_msg": t_check / n * 1e6 if n else 0.0,
        "check_many_us_per_msg": t_many / n * 1e6 if n else 0.0,
        "baseline_us_per_msg": t_base / n * 1e6 if n else 0.0,
        "mismatches": mismatches,
        "mismatch_examples": examples,
        "levels": levels,
        **flagged,
    }


# ---------------------------------------------------------------------------------------
# subprocess measurements
# ---------------------------------------------------------------------------------------
_COLD_CODE = """
import json, time
t0 = time.perf_counter()
import chatguard
t1 = time.perf_counter()
d = chatguard.Detector.default()
t2 = time.perf_counter()
v = d.check(MESSAGE)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "first_check_s": t3 - t2,
                  "total_s": t3 - t0, "level": v.level}))
"""

_MEMORY_CODE = """
import json, resource, sys
msgs = json.load(sys.stdin)

def status(field):
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)

import numpy, pydantic, ahocorasick, jieba
base = status("VmRSS")
import chatguard
after_import = status("VmRSS")
d = chatguard.Detector.default()
after_build = status("VmRSS")
flagged = sum(1 for m in msgs if d.check(m).findings)
loaded = d._tokenizer._tk is not None
print(json.dumps({"deps_mb": base, "after_import_mb": after_import,
                  "after_build_mb": after_build, "total_mb": status("VmRSS"),
                  "peak_mb": status("VmHWM"), "messages": len(msgs), "flagged": flagged,
                  "jieba_loaded": loaded}))
"""


def _child(code: str, stdin: str = "") -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True,
                          text=True, check=False, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cold_start(runs: int = 3, message: str = COLD_MESSAGE) -> dict[str, Any]:
    """Median (over ``runs`` fresh interpreters) of import + default() + first check, plus
    the median of each step and the child's whole wall time (with interpreter start-up)."""
    code = _COLD_CODE.replace("MESSAGE", repr(message))
    samples: list[dict[str, Any]] = []
    walls: list[float] = []
    for _ in range(max(runs, 1)):
        t = time.perf_counter()
        samples.append(_child(code))
        walls.append(time.perf_counter() - t)
    out: dict[str, Any] = {
        k: statistics.median(s[k] for s in samples)
        for k in ("import_s", "build_s", "first_check_s", "total_s")
    }
    out["runs"] = [round(s["total_s"], 3) for s in samples]
    out["process_wall_s"] = statistics.median(walls)
    out["level"] = samples[0]["level"]
    return out


def memory(risky_messages: Sequence[str]) -> dict[str, Any]:
    """RSS of a fresh process: dependencies only, then with the detector built and used
    on ``risky_messages``; ``detector_mb`` is the difference."""
    r = _child(_MEMORY_CODE, json.dumps(list(risky_messages), ensure_ascii=False))
    r["detector_mb"] = r["total_mb"] - r["deps_mb"]
    return r


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
def _ok(value: float, target: float, higher: bool) -> str:
    good = value >= target if higher else value <= target
    return "ok" if good else "MISSED"


def render(res: dict[str, Any]) -> str:
    tp = res["throughput"]
    lines = [
        res["header"],
        f"corpus: {tp['messages']:,} messages (seed {res['seed']}, "
        f"{res['risky']:,} risky), {tp['keys']:,} automaton keys, best of {tp['repeat']}, "
        f"{tp['clock']} time",
        "",
        f"{'measure':<44}{'value':>16}  {'target':>9}  status",
        "-" * 80,
        f"{'(a) baseline: bare ahocorasick iter':<44}"
        f"{tp['baseline_msgs_per_s']:>12,.0f} m/s  {'':>9}",
        f"{'(b) Detector.check':<44}{tp['check_msgs_per_s']:>12,.0f} m/s",
        f"{'(c) Detector.check_many (batch ' + str(tp['batch']) + ')':<44}"
        f"{tp['check_many_msgs_per_s']:>12,.0f} m/s",
        f"{'    ratio check / baseline':<44}{tp['check_ratio']:>16.2f}  "
        f"{'>= 0.5':>9}  {_ok(tp['check_ratio'], TARGETS['check_ratio'], True)}",
        f"{'    ratio check_many / baseline':<44}{tp['check_many_ratio']:>16.2f}  "
        f"{'>= 0.8':>9}  {_ok(tp['check_many_ratio'], TARGETS['check_many_ratio'], True)}",
        f"{'    check_many verdicts != check verdicts':<44}{tp['mismatches']:>16d}  "
        f"{'0':>9}  {'ok' if tp['mismatches'] == 0 else 'MISSED'}",
        f"{'(f) floor: class search + strip + automaton':<44}"
        f"{tp['floor_msgs_per_s']:>12,.0f} m/s",
        f"{'    ratio floor / baseline':<44}{tp['floor_ratio']:>16.2f}",
        f"{'    check time beyond the floor (analysis)':<44}"
        f"{tp['check_us_per_msg'] - tp['floor_us_per_msg']:>13.1f} µs/msg",
    ]
    if "cold" in res:
        c = res["cold"]
        lines += [
            f"{'(d) cold start: import+default()+check':<44}{c['total_s']:>14.3f} s  "
            f"{'<= 1.5 s':>9}  {_ok(c['total_s'], TARGETS['cold_start_s'], False)}",
            f"{'    import / default() / first check':<44}"
            f"{c['import_s']:>5.2f} /{c['build_s']:>5.2f} /{c['first_check_s']:>5.2f} s",
            f"{'    runs; child process wall incl. startup':<44}"
            f"{' '.join(f'{x:.2f}' for x in c['runs'])}; {c['process_wall_s']:.2f} s",
        ]
    if "memory" in res:
        m = res["memory"]
        lines += [
            f"{'(e) RSS: numpy+pydantic+ahocorasick+jieba':<44}{m['deps_mb']:>13.1f} MB",
            f"{'    + import chatguard':<44}{m['after_import_mb']:>13.1f} MB",
            f"{'    + Detector.default()':<44}{m['after_build_mb']:>13.1f} MB",
            f"{'    + check on ' + str(m['messages']) + ' risky msgs (total)':<44}"
            f"{m['total_mb']:>13.1f} MB  {'<= 100 MB':>9}  "
            f"{_ok(m['total_mb'], TARGETS['rss_total_mb'], False)}",
            f"{'    delta attributable to the detector':<44}{m['detector_mb']:>13.1f} MB",
            f"{'    peak (VmHWM); jieba loaded':<44}{m['peak_mb']:>13.1f} MB  "
            f"{m['jieba_loaded']}",
        ]
    lv = tp["levels"]
    lines += ["", "verdict levels on the corpus: "
              + ", ".join(f"{k} {lv.get(k, 0):,}" for k in LEVEL_NAMES)]
    if "risky_medium" in tp:
        risky, benign = res["risky"], tp["messages"] - res["risky"]
        lines.append(
            f"synthetic labels: risky >= medium {tp['risky_medium']:,}/{risky:,} "
            f"({tp['risky_medium'] / max(risky, 1):.1%}), >= low {tp['risky_low']:,}; "
            f"benign >= medium {tp['benign_medium']:,}/{benign:,}, >= low {tp['benign_low']:,}"
        )
        if tp["benign_flagged_examples"]:
            lines.append("benign messages at low or above: "
                         + " | ".join(tp["benign_flagged_examples"]))
    if tp["mismatch_examples"]:
        lines.append("check_many != check on: " + " | ".join(tp["mismatch_examples"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--n", type=int, default=DEFAULT_N, help="corpus size (messages)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--repeat", type=int, default=3, help="best of R runs per measure")
    p.add_argument("--batch", type=int, default=1000, help="check_many batch size")
    p.add_argument("--cold-runs", type=int, default=3, help="subprocesses for cold start")
    p.add_argument("--risky-for-rss", type=int, default=1000,
                   help="risky messages checked before measuring RSS")
    p.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    p.add_argument("--no-subprocess", action="store_true", help="skip (d) and (e)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = p.parse_args(argv)

    rows = generate(args.n, args.seed)
    texts = [t for t, _ in rows]
    risky = [t for t, label in rows if label]
    det = chatguard.Detector.default()
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "header": (f"chatguard {chatguard.__version__} | Python {platform.python_version()} | "
                   f"{platform.platform()} | {os.cpu_count()} CPUs"),
        "fingerprint": det.fingerprint,
        "seed": args.seed,
        "risky": len(risky),
        "targets": TARGETS,
    }
    res["throughput"] = measure_throughput(det, texts, repeat=args.repeat, batch=args.batch,
                                           wall=args.wall, labels=[y for _, y in rows])
    if not args.no_subprocess:
        res["cold"] = cold_start(args.cold_runs)
        res["memory"] = memory(risky[: args.risky_for_rss])
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
    else:
        print(render(res))
    return 1 if res["throughput"]["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
