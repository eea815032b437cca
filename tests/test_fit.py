"""``chatguard fit``: the logistic regression, the overrides file it writes, the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatguard import Detector
from chatguard.errors import RuleError
from chatguard.fit import features, fit_logistic, fit_weights, write_overrides
from chatguard.rules.loader import bundled_pack_path, load_rules

DEV = Path(__file__).parent / "data" / "dev_messages.jsonl"


def _dev() -> tuple[list[str], list[int]]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


# ---------------------------------------------------------------------------------------
# the regression
# ---------------------------------------------------------------------------------------
def test_newton_recovers_the_generating_coefficients() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, size=(40_000, 3)).astype(np.float64)
    true_coef, true_b = np.array([2.0, -1.0, 0.0]), -0.5
    p = 1 / (1 + np.exp(-(true_b + x @ true_coef)))
    y = (rng.random(len(p)) < p).astype(np.float64)
    m = fit_logistic(x, y, l2=0.0)
    assert m.converged
    assert np.allclose(m.coef, true_coef, atol=0.08)
    assert abs(m.intercept - true_b) < 0.08


def test_the_fit_is_a_stationary_point_of_the_penalized_loss() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(500, 4)).astype(np.float64)
    y = rng.integers(0, 2, size=500).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=500)
    m = fit_logistic(x, y, sample_weight=w, l2=3.0)
    p = m.predict(x)
    grad_coef = x.T @ (w * (p - y)) + 3.0 * m.coef
    grad_b = float(np.sum(w * (p - y)))
    assert np.max(np.abs(grad_coef)) < 1e-6
    assert abs(grad_b) < 1e-6


def test_penalty_shrinks_towards_zero() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(300, 2)).astype(np.float64)
    y = (x[:, 0] > 0).astype(np.float64)
    y[:10] = 1 - y[:10]
    loose = fit_logistic(x, y, l2=0.01)
    tight = fit_logistic(x, y, l2=100.0)
    assert abs(tight.coef[0]) < abs(loose.coef[0])


def test_separable_feature_with_no_penalty_still_returns() -> None:
    # A rule that only ever fires on scams: with no penalty the coefficient grows without
    # bound; the fit must stop at max_iter rather than overflow or hang.
    x = np.array([[1.0], [1.0], [0.0], [0.0]])
    y = np.array([1.0, 1.0, 0.0, 1.0])
    m = fit_logistic(x, y, l2=0.0, max_iter=30)
    assert np.isfinite(m.coef).all()
    assert m.coef[0] > 5


# ---------------------------------------------------------------------------------------
# rule weights from real verdicts
# ---------------------------------------------------------------------------------------
def test_features_mark_the_rules_a_message_hits() -> None:
    rs = load_rules()
    x = features(rs, ["加我薇信，带你投资稳赚不赔", "今天晚饭AA吧"])
    ids = [r.id for r in rs.rules]
    hit = {ids[j] for j in np.flatnonzero(x[0])}
    assert hit == set(Detector(rs).check("加我薇信，带你投资稳赚不赔").rule_ids)
    assert hit
    assert not x[1].any()


def test_weights_follow_what_the_data_says() -> None:
    rs = load_rules()
    texts, labels = _dev()
    weights, support, model, kept = fit_weights(rs, texts, labels, min_support=5)
    assert model.converged
    assert weights
    assert kept
    assert all(0.01 <= w <= 0.99 for w in weights.values())
    assert all(sum(support[rid]) >= 5 for rid in weights)
    # A rule hit only in scams ends above one hit often in ordinary chat too.
    scam_only = [r for r, (s, b) in support.items() if r in weights and b == 0 and s >= 8]
    mixed = [r for r, (s, b) in support.items() if r in weights and b >= 0.25 * (s + b)]
    assert scam_only
    assert mixed
    assert min(weights[r] for r in scam_only) > max(weights[r] for r in mixed)
    # Few hits keep a rule near the author's weight; the model never flips a strong rule off.
    assert all(weights[r] > 0.3 for r in scam_only)


def test_weighted_unique_rows_fit_like_the_rows_they_stand_for() -> None:
    # fit_weights collapses identical feature rows into one weighted row; the fit must be
    # the one on every row.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(2_000, 3)).astype(np.float64)
    y = rng.integers(0, 2, size=2_000).astype(np.float64)
    full = fit_logistic(x, y, l2=2.0, prior=np.array([0.5, -0.5, 1.0]))
    keys = np.hstack([x, y[:, None]])
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    collapsed = fit_logistic(uniq[:, :3], uniq[:, 3], sample_weight=counts.astype(float),
                             l2=2.0, prior=np.array([0.5, -0.5, 1.0]))
    assert len(uniq) <= 16
    assert np.allclose(full.coef, collapsed.coef, atol=1e-9)
    assert abs(full.intercept - collapsed.intercept) < 1e-9


def test_the_penalty_pulls_towards_the_prior() -> None:
    x = np.array([[1.0], [0.0], [0.0], [1.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0])  # no evidence either way
    m = fit_logistic(x, y, l2=1e6, prior=np.array([2.5]))
    assert abs(m.coef[0] - 2.5) < 1e-3


def test_labels_must_be_binary_and_both_present() -> None:
    rs = load_rules()
    with pytest.raises(ValueError, match=r"0 \(benign\) or 1"):
        fit_weights(rs, ["a", "b"], [0, 2])
    with pytest.raises(ValueError, match="both"):
        fit_weights(rs, ["转账给我", "加微信"], [1, 1], min_support=1)


# ---------------------------------------------------------------------------------------
# the overrides file
# ---------------------------------------------------------------------------------------
def test_overrides_file_loads_as_a_pack_and_changes_the_weights(tmp_path: Path) -> None:
    base = load_rules()
    rid = "invest-guaranteed-profit"
    before = base.rule(rid).spec.effective_weight
    path = write_overrides(tmp_path / "weights.toml", bundled_pack_path(), {rid: 0.2})
    text = path.read_text(encoding="utf-8")
    assert "[overrides]" in text
    assert "extends" in text
    fitted = load_rules(path)
    assert fitted.rule(rid).spec.effective_weight == 0.2 != before
    assert len(fitted.rules) == len(base.rules)
    assert fitted.fingerprint != base.fingerprint
    msg = "稳赚不赔"
    assert Detector(fitted).check(msg).score < Detector(base).check(msg).score


def test_overrides_file_extends_by_a_relative_path_and_moves_with_the_pack(
    tmp_path: Path,
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.toml").write_text('schema_version = 1\nid = "mini"\n', encoding="utf-8")
    (pack / "money.toml").write_text(
        'schema_version = 1\n[[rules]]\nid = "ask-transfer"\ntitle = "asks for a transfer"\n'
        'category = "money_transfer"\nlevel = "high"\nkeywords = ["转账给我"]\n'
        '[rules.examples]\nmatch = ["快转账给我"]\nno_match = ["今天天气好"]\n',
        encoding="utf-8")
    path = write_overrides(tmp_path / "weights.toml", pack, {"ask-transfer": 0.3})
    assert 'extends = ["pack"]' in path.read_text(encoding="utf-8")
    assert load_rules(path).rule("ask-transfer").spec.effective_weight == 0.3


def test_overrides_naming_an_unknown_rule_fail_with_file_and_line(tmp_path: Path) -> None:
    path = write_overrides(tmp_path / "weights.toml", bundled_pack_path(), {"no-such-rule": 0.5})
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert "weights.toml" in str(err.value)
    assert "no-such-rule" in str(err.value)
    assert err.value.line is not None


# ---------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatguard", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_fit_command_writes_weights_and_reports_the_holdout(tmp_path: Path) -> None:
    out = tmp_path / "weights.toml"
    r = _run("fit", "--data", str(DEV), "--out", str(out), "--json", "--seed", "3")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["train"] + report["holdout"] == 513
    assert report["holdout_before"]["n"] == report["holdout_after"]["n"] == report["holdout"]
    assert report["weights"]
    assert report["converged"] is True
    fitted = load_rules(out)
    some = next(iter(report["weights"]))
    assert fitted.rule(some).spec.effective_weight == report["weights"][some]["after"]
    # Same data, same seed: the same file.
    again = tmp_path / "again.toml"
    assert _run("fit", "--data", str(DEV), "--out", str(again), "--seed", "3").returncode == 0
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_fit_command_bad_options_exit_2_with_one_line(tmp_path: Path) -> None:
    r = _run("fit", "--data", str(DEV), "--out", str(tmp_path / "w.txt"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert ".toml" in r.stderr
    r = _run("fit", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "w.toml"))
    assert r.returncode == 2
    assert "missing.jsonl" in r.stderr
    assert "Traceback" not in r.stderr
