"""Speed of ``chatguard eval`` on the shared labeled sets, as ratios against the detector.

The issue asks for ``eval`` on all of ``../shared/data/`` in under a minute. On those sets
(or a seeded ``--limit`` sample of each), loaded once:

* **baseline**: ``Detector.check_many`` over every text eval checks (the messages and every
  conversation turn), in batches of 2000, texts already in memory;
* **eval, 1 worker**: ``chatguard.evaluate.evaluate`` with the bundled pack: messages
  through ``check_many``, conversations through the guard, all figures computed;
* **eval, N workers** (``--workers``, default the core count) against 1 worker, with the
  figures checked equal;
* **eval, 2 rule sets** side by side (the bundled pack twice, read from its folder), on N
  workers: the cost of a second column;
* **load**: reading and parsing the data sets (``chatguard.labeled.load``).

Wall times are best of ``--repeat``, the detector built and warmed up beforehand. With more
workers than free cores the figures measure the neighbours, not eval: the core count and
the load average are printed.

Run: ``python benchmarks/bench_eval.py`` (``--limit 500`` for a quick look, ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import chatguard
from chatguard import labeled
from chatguard.evaluate import RuleSetRef, evaluate, sample

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last run's result."""
    times: list[float] = []
    out: Any = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def stable(result: dict[str, Any]) -> dict[str, Any]:
    """An eval result without its timing figures, to compare runs."""
    for s in result["sets"]:
        for r in s["rulesets"]:
            for k in ("seconds", "messages_per_second", "turns_per_second"):
                r.pop(k, None)
    result.pop("seconds", None)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED, help="the shared labeled data folder")
    p.add_argument("--limit", type=int, default=0,
                   help="a seeded sample of N items per set (0: everything)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent", file=sys.stderr)
        return 0

    t = time.perf_counter()
    sets = labeled.load(args.data)
    load_s = time.perf_counter() - t
    if args.limit:
        sets = [sample(s, args.limit) for s in sets]
    texts = [m.text for s in sets for m in s.messages]
    texts += [turn.text for s in sets for c in s.conversations for turn in c.turns]

    det = chatguard.Detector.default()
    det.warm_up()
    twin = chatguard.Detector.from_rules(ROOT / "rules" / "zh-CN")
    one = [(RuleSetRef("default", (), det.fingerprint), det)]
    two = [*one, (RuleSetRef("rules/zh-CN", ("rules/zh-CN",), twin.fingerprint), twin)]

    def baseline() -> int:
        for i in range(0, len(texts), 2000):
            det.check_many(texts[i : i + 2000])
        return len(texts)

    base_s, _ = best(baseline, args.repeat)
    w1_s, r1 = best(lambda: evaluate(one, sets), args.repeat)
    wn_s, rn = best(lambda: evaluate(one, sets, workers=args.workers), args.repeat)
    two_s, _ = best(lambda: evaluate(two, sets, workers=args.workers), args.repeat)
    same = stable(r1.to_dict()) == stable(rn.to_dict())

    items = sum(len(s) for s in sets)
    res = {
        "header": {"chatguard": chatguard.__version__, "python": platform.python_version(),
                   "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                   "date": time.strftime("%Y-%m-%d"), "limit": args.limit,
                   "workers": args.workers},
        "sets": [s.name for s in sets], "items": items, "texts": len(texts),
        "load_s": round(load_s, 2),
        "baseline_check_many_s": round(base_s, 2),
        "eval_1_worker_s": round(w1_s, 2),
        "eval_n_workers_s": round(wn_s, 2),
        "eval_2_rulesets_n_workers_s": round(two_s, 2),
        "eval_1_worker_vs_baseline": round(base_s / w1_s, 3),
        "n_workers_speedup": round(w1_s / wn_s, 2),
        "second_ruleset_cost": round(two_s / wn_s, 2),
        "same_figures_1_vs_n_workers": same,
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        h = res["header"]
        print(f"chatguard {h['chatguard']} | Python {h['python']} | {h['cpus']} CPUs | "
              f"load {h['load_average'][0]:.2f} | {h['date']}")
        print(f"{len(sets)} sets, {items:,} items, {len(texts):,} texts to check "
              f"(limit {args.limit or 'none'})")
        rows = [
            ("load the data sets", load_s, ""),
            ("baseline check_many", base_s, ""),
            ("eval, 1 worker", w1_s,
             f"{res['eval_1_worker_vs_baseline']:.2f}x baseline throughput"),
            (f"eval, {args.workers} workers", wn_s,
             f"{res['n_workers_speedup']:.2f}x faster than 1 worker; same figures: {same}"),
            (f"eval, 2 rule sets, {args.workers} workers", two_s,
             f"{res['second_ruleset_cost']:.2f}x one rule set"),
        ]
        for label, secs, note in rows:
            print(f"  {label:<32}{secs:7.2f} s   {note}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
