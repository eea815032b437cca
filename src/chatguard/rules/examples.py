"""Running every rule's ``examples.match`` / ``examples.no_match`` against a detector.

Shared by the test suite and ``chatguard rules test`` so both judge examples the same way:
a ``match`` example must produce a non-suppressed finding of that very rule; a ``no_match``
example must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..detector import Detector

__all__ = ["ExampleResult", "run_examples"]


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule_id: str
    file: str
    line: int | None
    kind: Literal["match", "no_match"]
    text: str
    passed: bool
    fired: tuple[str, ...]  # rule ids that fired (non-suppressed) on the example

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        want = "should fire" if self.kind == "match" else "should NOT fire"
        fired = ", ".join(self.fired) or "nothing"
        return f"{where}: rule {self.rule_id!r} {want} on {self.text!r} (fired: {fired})"


def run_examples(detector: Detector) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    for lr in detector.ruleset.rules:
        examples = lr.spec.examples
        for kind, texts in (("match", examples.match), ("no_match", examples.no_match)):
            for text in texts:
                verdict = detector.check(text)
                fired = verdict.rule_ids
                ok = (lr.id in fired) if kind == "match" else (lr.id not in fired)
                results.append(ExampleResult(lr.id, lr.file, lr.line, kind, text, ok, fired))  # type: ignore[arg-type]
    return results
