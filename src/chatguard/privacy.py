"""Masking and pseudonymisation for what leaves chatguard: evidence snippets and user ids.

Events travel to moderators, logs, webhooks and Redis streams; none of them needs a member's
full phone number, bank card or WeChat id to act, and all of them are places where such data
leaks. :func:`mask_text` keeps enough of an identifier to recognise it again (``138****5678``,
``6222 **** **** 1234``) and removes the rest. It is deliberately broader than the validated
detectors in :mod:`chatguard.identifiers`: masking a price by mistake costs a little
readability, missing a card number costs a member's privacy. Amounts are the one exception: a
run of 5-9 digits written as money (``50000元``, ``¥20000``) is kept, because the amount is what a
moderator needs to judge the risk.

All patterns live in ONE compiled regex whose alternatives can only start at a boundary of their
own character class (a lookbehind) and never nest quantifiers over overlapping classes, so
masking stays linear in the length of the text, whatever the input.

:class:`IdHasher` replaces user ids with a keyed HMAC, so events from one deployment can be
correlated with each other but not with ids from anywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from typing import Final

from .errors import ConfigError

__all__ = ["IdHasher", "mask_pieces", "mask_span", "mask_spans", "mask_text"]

_ELLIPSIS: Final = "…"
_MONEY_UNIT: Final = r"\s?(?:元|块|万|rmb|RMB|美元|人民币|USDT|usdt)"

# Alternatives are tried in this order at each position; the first that matches wins.
_PATTERN: Final = re.compile(
    # email: the local part may only start where its own character class starts
    r"(?P<email>(?<![A-Za-z0-9._%+\-])(?P<em_local>[A-Za-z0-9._%+\-]+)"
    r"@(?P<em_domain>[A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9\-]))"
    # ERC20 / EVM address
    r"|(?P<evm>(?<![0-9A-Za-z])0[xX][0-9a-fA-F]{40}(?![0-9A-Za-z]))"
    # TRC20 / Tron address: T + 33 base58 characters
    r"|(?P<tron>(?<![0-9A-Za-z])T[1-9A-HJ-NP-Za-km-z]{33}(?![0-9A-Za-z]))"
    # WeChat id after a cue word (the cue and separator are kept)
    r"|(?P<wechat>(?P<wx_cue>(?:微信号?|威信|薇信|徽信|(?<![A-Za-z])(?i:v信|vx|wx|weixin|wechat))"
    r"[\s:：]{0,3})(?P<wx_id>[a-zA-Z][-_a-zA-Z0-9]{5,19})(?![-_a-zA-Z0-9]))"
    # mainland mobile, optionally after +86 / 0086 / 86; a single space, dot or dash may sit
    # between any two digits ("138.1234.5678", "1 3 8 1 2 3 4 5 6 7 8"), as the detector allows
    r"|(?P<phone>(?<!\d)(?P<ph_prefix>(?:\+|00)?86[ \-]?)?"
    r"(?P<ph_number>1[ .\-]?[3-9](?:[ .\-]?\d){9})(?![ .\-]?\d))"
    # bank-card-like: 13-19 digits with optional single spaces or dashes between them
    r"|(?P<card>(?<!\d)(?<!\d[ \-])\d(?:[ \-]?\d){12,18}(?![ \-]?\d))"
    # a longer run of 20+ digits with separators (a contiguous one is handled by "digits")
    r"|(?P<long>(?<!\d)(?<!\d[ \-])\d(?:[ \-]?\d){19,})"
    # 5+ digits split by symbols or emoji to slip past filters ("2﹏8﹏6﹏5﹏1", "1⭐3⭐9..."):
    # one or two characters that are neither word, space nor the . , : / - of prices,
    # dates and times may sit between any two digits
    r"|(?P<split>(?<!\d)\d(?:[^\w\s.,:/\-]{1,2}\d){4,}(?![^\w\s.,:/\-]{0,2}\d))"
    # a money amount, kept as written: a currency sign before or a unit right after
    r"|(?P<amount>[¥￥$]\d{5,9}(?![\d.])"
    rf"|(?<![\d.])\d{{5,9}}(?:\.\d{{1,2}})?(?={_MONEY_UNIT}))"
    # any other run of 5+ digits (QQ numbers, ids, order numbers)
    r"|(?P<digits>(?<!\d)\d{5,})"
)


# Every alternative of _PATTERN holds an ASCII letter or a digit: text without one (most
# Chinese chat) has nothing to mask, and this search settles it for a fraction of the cost.
_MAYBE: Final = re.compile(r"[A-Za-z\d]")


def _keep(value: str, head: int, tail: int) -> str:
    return value[:head] + "****" + value[-tail:]


def _mask_digits(value: str, keep: int) -> str:
    """Keep the first and last ``keep`` digits and every separator: ``6222 **** **** 1234``."""
    total = sum(ch.isdigit() for ch in value)
    out: list[str] = []
    seen = 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep or seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_match(m: re.Match[str]) -> str:
    kind = m.lastgroup
    value = m.group()
    if kind == "email":
        return m["em_local"][:1] + "***@" + m["em_domain"]
    if kind in ("evm", "tron"):
        return _keep(value, 4, 4)
    if kind == "wechat":
        return m["wx_cue"] + m["wx_id"][:2] + "****"
    if kind == "phone":
        digits = "".join(ch for ch in m["ph_number"] if ch.isdigit())
        return (m["ph_prefix"] or "") + _keep(digits, 3, 4)
    if kind == "card":
        return _mask_digits(value, 4)
    if kind == "split":
        return _mask_digits(value, 2)
    if kind == "long":
        return _mask_digits(value, 2) if not value.isdigit() else _keep(value, 2, 2)
    if kind == "digits":
        return _keep(value, 2, 2)
    return value  # amount


def mask_pieces(text: str) -> Iterator[tuple[int, int, str]]:
    """Each identifier :func:`mask_text` masks in ``text``, as ``(start, end, masked)`` in
    order, for callers that must map offsets from the raw text onto the masked one (a
    report highlighting findings in masked messages). Amounts kept as written are skipped.
    """
    for m in _PATTERN.finditer(text):
        masked = _mask_match(m)
        if masked != m.group():
            yield m.start(), m.end(), masked


def mask_text(text: str) -> str:
    """Mask phone numbers, card numbers, long digit runs, wallets, WeChat ids and emails.

    Never raises on a ``str`` (lone surrogates included) and runs in linear time. The masked
    text may be shorter or longer than the original; offsets into it are not meaningful.
    """
    if not text or _MAYBE.search(text) is None:
        return text
    return _PATTERN.sub(_mask_match, text)


def mask_span(text: str, start: int, end: int, *, context: int = 8) -> str:
    """A masked snippet around ``text[start:end]`` with ``context`` characters on each side.

    ``…`` marks where the snippet was cut. Identifiers are found on the WHOLE text and the
    window is widened to include any identifier it would cut through, so a cut can never leave
    the unmasked half of a phone number or card in the snippet. Out-of-range offsets are
    clamped rather than rejected: a snippet is a best-effort aid, not a contract.
    """
    return mask_spans(text, [(start, end)], context=context)[0]


def mask_spans(text: str, spans: Iterable[tuple[int, int]], *, context: int = 8) -> list[str]:
    """:func:`mask_span` for several spans of one text: the identifiers are found once."""
    matches = list(_PATTERN.finditer(text)) if _MAYBE.search(text) is not None else []
    return [_snippet(text, matches, s, e, context) for s, e in spans]


def _snippet(text: str, matches: list[re.Match[str]], start: int, end: int,
             context: int) -> str:
    n = len(text)
    start = min(max(start, 0), n)
    end = min(max(end, start), n)
    context = max(context, 0)
    lo = max(0, start - context)
    hi = min(n, end + context)
    pieces: list[str] = []
    pos = lo
    for m in matches:
        if m.end() <= lo:
            continue
        if m.start() >= hi:
            break
        if m.start() < lo:
            lo = pos = m.start()
        hi = max(hi, m.end())
        pieces.append(text[pos : m.start()])
        pieces.append(_mask_match(m))
        pos = m.end()
    pieces.append(text[pos:hi])
    return (_ELLIPSIS if lo > 0 else "") + "".join(pieces) + (_ELLIPSIS if hi < n else "")


class IdHasher:
    """Pseudonymises user ids with HMAC-SHA256 under a deployment secret.

    ``IdHasher(None)`` is the identity, for deployments that send ids in clear. With a key the
    result is ``"h:" + 32 hex digits``: deterministic (the same member gets the same id in every
    event, so moderators can correlate), but not reversible or linkable without the key, which
    a plain hash of a phone-number-shaped id would be.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes | str | None) -> None:
        if isinstance(key, str):
            key = key.encode("utf-8")
        if key is not None and not key:
            raise ConfigError("IdHasher key is empty; pass None to keep ids unchanged")
        self._key = key

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, user_id: str) -> str:
        if self._key is None:
            return user_id
        data = user_id.encode("utf-8", "surrogatepass")
        return "h:" + hmac.new(self._key, data, hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:  # never show the key
        return f"IdHasher(enabled={self.enabled})"
