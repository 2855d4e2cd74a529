"""The kernel's readable reference: this file defines what scoring and selection mean.

``_kernel_c.pyx`` computes the same numbers in the same order (so the twins agree to the
last bit on one machine); tests compare them on generated inputs.

Scoring
-------
Each message's content is read once as UTF-8 bytes. A *word* is a maximal run of ASCII
letters and bytes >= 0x80; its hash is 32-bit FNV-1a (offset 2166136261, prime 16777619)
over its bytes with ASCII letters lowercased. Per word: the hash looks up the cue table
(``CUE_WORDS``), and feeds the hashed features — the unigram key ``fmix32(h)`` and, when a
previous word exists in the same message, the word-pair key
``fmix32(((h_prev * 16777619) mod 2**32) ^ h ^ 0x9E3779B9)``, where fmix32 is MurmurHash3's
finaliser. A key adds ``sign * hash_weights[key & (B - 1)]`` to the lexical sum, with sign
``-1`` when bit 31 of the key is set; the lexical term is that sum over sqrt(number of keys).
Token estimate: a word costs its non-ASCII characters plus ceil(ASCII letters / 8), a digit
run ceil(digits / 3), every other non-space ASCII byte 1. The other features are counts and
shares documented beside ``DENSE_FEATURE_NAMES`` below (see ``_features``). Score =
logistic(bias + sum of contributions), contribution_i = w_i * ((x_i - center_i) / scale_i).

Selection
---------
Hard constraints (a model failing one is never returned): allowed == 1; breaker != OPEN;
quota_left not <= 0 (NaN = unknown passes); context >= min_context; (caps & needs) == needs;
and when max_price is finite, the model's price — 0 when free, else max(price_in,
price_out), unknown (NaN) failing — is <= max_price.

Every candidate gets a key (tier, metric, tiebreak, index); lower sorts first. Terms:
quality q (NaN → 0); cost c = 0 when free, else (3 * price_in + price_out) / 4 (blended
3:1 input:output), NaN → inf; latency l (NaN → inf); adequate = q >= score.

* free-first (and UNSPECIFIED): tier 0 free and adequate (metric -q + (1 - f), tiebreak
  l), tier 1 paid and adequate (metric c, tiebreak -q), tier 2 inadequate (metric -q,
  tiebreak c) — the cheapest model that can do the job, free before paid, then the closest
  to adequate. f is the share of the model's free quota left, clipped to [0, 1] (inf or
  NaN, unlimited or unknown, count as 1): a free model that has spent half its quota ranks
  as if it were 0.5 weaker, so a scarce quota is spared while others can do the job, and
  the strong models' quota lasts for the prompts that need them.
* cost: metric c, tiebreak -q. quality: metric -q, tiebreak c. latency: metric l,
  tiebreak c.
* hybrid (w_cost, w_quality, w_latency, w_error): metric w_cost * c/(c+1)
  + w_quality * (1 - q) * (0.5 + score) + w_latency * l/(l+1000) + w_error * e, with
  c/(c+1) and l/(l+1000) taken as 1 when unknown and e (error_rate, NaN → 1) clipped to
  [0, 1]; harder prompts weigh quality more. Tiebreak c.
* cascade: the cheapest (metric c, tiebreak -q) first; then, while fewer than k, the
  cheapest remaining model whose quality is strictly higher than the last one's (escalate
  on failure).

Load spreading: the candidates in the first-ranked candidate's tier whose metric is within
NEAR_EQUAL * max(1, |best metric|) of it are near-equal. When there are m >= 2 of them,
two distinct ones are drawn (by their position in index order) from splitmix64(seed):
r1 = next % m, r2 = next % (m - 1), r2 += 1 if r2 >= r1; the one with the lower load (r1 on
a tie) is put first, and the rest keep their order. The result has at most k entries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from native._common import (
    BREAKER_OPEN,
    CAP_JSON,
    CAP_REASONING,
    CAP_TOOLS,
    CAP_VISION,
    CUE_CODE,
    CUE_CONSTRAINT,
    CUE_CREATIVE,
    CUE_MATH,
    CUE_REASONING,
    CUE_SIMPLE,
    CUE_WORDS,
    DEFAULT_MAX_OUTPUT,
    N_DENSE,
    NEAR_EQUAL,
    STRATEGY_CASCADE,
    STRATEGY_COST,
    STRATEGY_FREE_FIRST,
    STRATEGY_LATENCY,
    STRATEGY_QUALITY,
    Catalogue,
    Score,
    Weights,
    check_score,
    check_select,
)

IMPLEMENTATION = "py"

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
PAIR_SALT = 0x9E3779B9
INF = math.inf

_SYNTAX = frozenset(b"{}[]();<>=")
_OPERATORS = frozenset(b"+-*/^=%<>")
_BULLETS = frozenset(b"-*+")
_CLOSERS = frozenset(b".)")
_SPACES = frozenset(b" \t\n\r")


def fnv1a(word: bytes) -> int:
    """The word hash: FNV-1a 32 over the bytes, ASCII letters lowercased."""
    h = FNV_OFFSET
    for b in word:
        if 65 <= b <= 90:
            b |= 0x20
        h = ((h ^ b) * FNV_PRIME) & M32
    return h


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finaliser: spreads a hash's bits before bucketing."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def pair_key(prev: int, h: int) -> int:
    """The hashed-feature key of the word pair (prev, h)."""
    return fmix32(((prev * FNV_PRIME) & M32) ^ h ^ PAIR_SALT)


CUE_TABLE: dict[int, int] = {fnv1a(word.encode()): cat for word, cat in CUE_WORDS.items()}


class _Scan:
    """Counts gathered over every message in one pass per message."""

    def __init__(self, buckets: int) -> None:
        self.chars = self.tokens = self.fences = self.indented = self.lines = 0
        self.syntax = self.digits = self.ops = self.latex = self.questions = 0
        self.list_items = self.non_ascii = self.cjk = 0
        self.ascii_words = self.ascii_letters = self.long_words = 0
        self.cues = [0] * 7
        self.mask = buckets - 1
        self.lex = 0.0
        self.keys = 0
        self.hashed: list[float] | None = None


def _is_digit(b: int) -> bool:
    return 48 <= b <= 57


def _is_letter(b: int) -> bool:
    return 65 <= b <= 90 or 97 <= b <= 122


def _list_marker(data: bytes, i: int) -> bool:
    """Whether the line starting at i opens with a bullet, '12.' / '3)' or 'A.' / 'b)'."""
    n = len(data)
    b = data[i]
    if b in _BULLETS:
        return i + 1 < n and data[i + 1] == 32
    if b == 0xE2:  # U+2022 BULLET
        return i + 2 < n and data[i + 1] == 0x80 and data[i + 2] == 0xA2
    if _is_digit(b):
        j = i
        while j < n and j - i < 4 and _is_digit(data[j]):
            j += 1
        return j - i <= 3 and j < n and data[j] in _CLOSERS
    if _is_letter(b):
        return i + 1 < n and data[i + 1] in _CLOSERS and (i + 2 == n or data[i + 2] in _SPACES)
    return False


def _add_key(st: _Scan, key: int, hw: npt.NDArray[np.float64]) -> None:
    sign = -1.0 if key & 0x80000000 else 1.0
    st.keys += 1
    if st.mask < 0:
        return
    if st.hashed is not None:
        st.hashed[key & st.mask] += sign
    else:
        st.lex += sign * float(hw[key & st.mask])


def _end_word(
    st: _Scan,
    h: int,
    ascii_len: int,
    uni: int,
    prev: int,
    has_prev: bool,
    hw: npt.NDArray[np.float64],
) -> None:
    st.tokens += uni + (ascii_len + 7) // 8
    if uni == 0:
        st.ascii_words += 1
        st.ascii_letters += ascii_len
        if ascii_len >= 10:
            st.long_words += 1
    st.cues[CUE_TABLE.get(h, 0)] += 1
    _add_key(st, fmix32(h), hw)
    if has_prev:
        _add_key(st, pair_key(prev, h), hw)


def _operator(data: bytes, i: int) -> bool:
    """An operator byte counts next to a digit, or standing alone between spaces."""
    prev = data[i - 1] if i > 0 else 0
    nxt = data[i + 1] if i + 1 < len(data) else 0
    return _is_digit(prev) or _is_digit(nxt) or (prev == 32 and nxt == 32)


def _scan(st: _Scan, data: bytes, hw: npt.NDArray[np.float64]) -> int:
    """Read one message's bytes into ``st``; return its character count."""
    n = len(data)
    chars = 0
    in_word = False
    h = FNV_OFFSET
    ascii_len = uni = 0
    prev = 0
    has_prev = False
    digit_run = ticks = indent = 0
    line_start = True
    for i in range(n):
        b = data[i]
        if (b & 0xC0) != 0x80:
            chars += 1
        if digit_run and not _is_digit(b):
            st.tokens += (digit_run + 2) // 3
            digit_run = 0
        if ticks and b != 96:
            st.fences += ticks >= 3
            ticks = 0
        if line_start:
            if b == 32:
                indent += 1
            elif b == 9:
                indent += 4
            elif b == 10:
                indent = 0
            elif b != 13:
                line_start = False
                st.lines += 1
                st.indented += indent >= 4
                st.list_items += _list_marker(data, i)
        if _is_letter(b) or b >= 0x80:
            if not in_word:
                in_word = True
                h = FNV_OFFSET
                ascii_len = uni = 0
            h = ((h ^ (b | 0x20 if b <= 90 else b)) * FNV_PRIME) & M32
            if b < 0x80:
                ascii_len += 1
            elif b >= 0xC0:
                uni += 1
                st.non_ascii += 1
                st.cjk += 0xE3 <= b <= 0xED
            continue
        if in_word:
            _end_word(st, h, ascii_len, uni, prev, has_prev, hw)
            prev = h
            has_prev = True
            in_word = False
        if _is_digit(b):
            st.digits += 1
            digit_run += 1
        elif b == 10:
            line_start = True
            indent = 0
        elif b not in _SPACES:
            st.tokens += 1
            st.syntax += b in _SYNTAX
            if b in _OPERATORS and _operator(data, i):
                st.ops += 1
            if b == 63:
                st.questions += 1
            elif b == 36 or (b == 92 and i + 1 < n and _is_letter(data[i + 1])):
                st.latex += 1
            elif b == 96:
                ticks += 1
    if in_word:
        _end_word(st, h, ascii_len, uni, prev, has_prev, hw)
    st.tokens += (digit_run + 2) // 3
    st.fences += ticks >= 3
    return chars


def _share(part: int, whole: int) -> float:
    return part / (whole if whole > 0 else 1)


def _features(
    st: _Scan, turns: tuple[int, int, int], max_output_tokens: int, needs: int
) -> list[float]:
    """The dense feature values, in DENSE_FEATURE_NAMES order."""
    has_system, last_user_chars, messages = turns
    asked = max_output_tokens if max_output_tokens > 0 else DEFAULT_MAX_OUTPUT
    chars = st.chars
    return [
        math.log1p(chars),
        math.log1p(st.tokens),
        math.log1p(last_user_chars),
        math.log1p(st.fences),
        _share(st.indented, st.lines),
        _share(st.syntax, chars),
        math.log1p(st.cues[CUE_CODE]),
        _share(st.digits, chars),
        math.log1p(st.ops),
        math.log1p(st.latex),
        math.log1p(st.cues[CUE_MATH]),
        math.log1p(st.cues[CUE_REASONING]),
        math.log1p(st.cues[CUE_SIMPLE]),
        math.log1p(st.cues[CUE_CREATIVE]),
        math.log1p(st.cues[CUE_CONSTRAINT]),
        math.log1p(st.questions),
        math.log1p(st.list_items),
        math.log1p(messages - 1 if messages > 1 else 0),
        float(has_system),
        _share(st.non_ascii, chars),
        _share(st.cjk, chars),
        math.log1p(asked),
        1.0 if needs & CAP_TOOLS else 0.0,
        1.0 if needs & CAP_VISION else 0.0,
        1.0 if needs & CAP_JSON else 0.0,
        1.0 if needs & CAP_REASONING else 0.0,
        _share(st.ascii_letters, st.ascii_words),
        _share(st.long_words, st.ascii_words),
        math.log1p(st.lines),
    ]


def _read(
    st: _Scan, messages: Sequence[tuple[str, str]], hw: npt.NDArray[np.float64]
) -> tuple[int, int, int]:
    """Scan every message; return (has_system, last user message's chars, non-system count)."""
    has_system = last_user = count = 0
    for role, content in messages:
        chars = _scan(st, content.encode("utf-8", "surrogatepass"), hw)
        st.chars += chars
        if role in ("system", "developer"):
            has_system = 1
            continue
        count += 1
        if role == "user":
            last_user = chars
    return has_system, last_user, count


def _logistic(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score(
    messages: Sequence[tuple[str, str]], max_output_tokens: int, needs: int, weights: Weights
) -> Score:
    """The prompt's complexity in [0, 1] with every feature's value and contribution."""
    check_score(max_output_tokens, needs)
    packed = weights.packed
    hw = packed[1 + 3 * N_DENSE :]
    st = _Scan(weights.hash_buckets)
    turns = _read(st, messages, hw)
    values = _features(st, turns, max_output_tokens, needs)
    contributions = []
    logit = float(packed[0])
    for i, x in enumerate(values):
        center, scale, w = packed[1 + i], packed[1 + N_DENSE + i], packed[1 + 2 * N_DENSE + i]
        part = float(w) * ((x - float(center)) / float(scale))
        contributions.append(part)
        logit += part
    lexical = st.lex / math.sqrt(st.keys) if st.keys else 0.0
    logit += lexical
    values.append(lexical)
    contributions.append(lexical)
    return Score(
        value=_logistic(logit),
        features=np.array(values, dtype=np.float64),
        contributions=np.array(contributions, dtype=np.float64),
    )


def featurize(
    messages: Sequence[tuple[str, str]], max_output_tokens: int, needs: int, hash_buckets: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Model inputs for fitting: the dense features and the normalised hashed vector.

    hashed[b] = sum of the signs of the keys in bucket b, over sqrt(number of keys), so
    lexical = hash_weights @ hashed (up to summation order).
    """
    check_score(max_output_tokens, needs)
    if hash_buckets < 0 or hash_buckets & (hash_buckets - 1):
        raise ValueError(f"hash_buckets: must be 0 or a power of two, got {hash_buckets}")
    st = _Scan(hash_buckets)
    st.hashed = [0.0] * hash_buckets
    turns = _read(st, messages, np.zeros(0))
    dense = np.array(_features(st, turns, max_output_tokens, needs), dtype=np.float64)
    hashed = np.array(st.hashed, dtype=np.float64)
    if st.keys:
        hashed /= math.sqrt(st.keys)
    return dense, hashed


# ---------------------------------------------------------------- selection


class SplitMix64:
    """splitmix64: the deterministic generator both twins draw load-spreading picks from."""

    def __init__(self, seed: int) -> None:
        self.state = seed & M64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def _passes(cat: Catalogue, i: int, needs: int, min_context: int, max_price: float) -> bool:
    if cat.allowed[i] != 1 or cat.breaker[i] == BREAKER_OPEN:
        return False
    if float(cat.quota_left[i]) <= 0.0 or int(cat.context[i]) < min_context:
        return False
    if (int(cat.caps[i]) & needs) != needs:
        return False
    if max_price == INF:
        return True
    if cat.free[i] == 1:
        return max_price >= 0.0
    p_in, p_out = float(cat.price_in[i]), float(cat.price_out[i])
    if not (p_in >= 0.0 and p_out >= 0.0):  # unknown (NaN) or nonsense prices never pass
        return False
    return (p_in if p_in > p_out else p_out) <= max_price


def _quality(cat: Catalogue, i: int) -> float:
    q = float(cat.quality[i])
    return q if q == q else 0.0


def _cost(cat: Catalogue, i: int) -> float:
    if cat.free[i] == 1:
        return 0.0
    c = (3.0 * float(cat.price_in[i]) + float(cat.price_out[i])) / 4.0
    return c if c >= 0.0 else INF


def _latency(cat: Catalogue, i: int) -> float:
    lat = float(cat.latency_ms[i])
    return lat if lat >= 0.0 else INF


def _spare(cat: Catalogue, i: int, q: float) -> float:
    """Free-first's metric for an adequate free model: its quality, less the share of its
    free quota already spent (lower is better)."""
    f = float(cat.quota_left[i])
    f = 1.0 if not f < 1.0 else (0.0 if f < 0.0 else f)
    return -q + (1.0 - f)


def _hybrid(cat: Catalogue, i: int, score: float, hw: tuple[float, ...]) -> float:
    c = _cost(cat, i)
    cost = 1.0 if c == INF else c / (c + 1.0)
    lat = _latency(cat, i)
    slow = 1.0 if lat == INF else lat / (lat + 1000.0)
    e = float(cat.error_rate[i])
    err = 1.0 if e != e or e > 1.0 else (0.0 if e < 0.0 else e)
    q = _quality(cat, i)
    return hw[0] * cost + hw[1] * ((1.0 - q) * (0.5 + score)) + hw[2] * slow + hw[3] * err


Key = tuple[int, float, float, int]


def _key(cat: Catalogue, i: int, score: float, strategy: int, hw: tuple[float, ...]) -> Key:
    """The candidate's sort key (tier, metric, tiebreak, index): lower is better."""
    if strategy == STRATEGY_FREE_FIRST:
        q = _quality(cat, i)
        if q >= score:
            if cat.free[i] == 1:
                return (0, _spare(cat, i, q), _latency(cat, i), i)
            return (1, _cost(cat, i), -q, i)
        return (2, -q, _cost(cat, i), i)
    if strategy in (STRATEGY_COST, STRATEGY_CASCADE):
        return (0, _cost(cat, i), -_quality(cat, i), i)
    if strategy == STRATEGY_QUALITY:
        return (0, -_quality(cat, i), _cost(cat, i), i)
    if strategy == STRATEGY_LATENCY:
        return (0, _latency(cat, i), _cost(cat, i), i)
    return (0, _hybrid(cat, i, score, hw), _cost(cat, i), i)


def _near(metric: float, best: float) -> bool:
    if metric == best:
        return True
    return abs(metric - best) <= NEAR_EQUAL * max(1.0, abs(best))


def _spread(keys: list[Key], cat: Catalogue, seed: int) -> int:
    """Power of two choices among the candidates near-equal to the best; returns an index."""
    best = min(keys)
    group = [key[3] for key in keys if key[0] == best[0] and _near(key[1], best[1])]
    if len(group) < 2:
        return best[3]
    rng = SplitMix64(seed)
    m = len(group)
    r1 = rng.next() % m
    r2 = rng.next() % (m - 1)
    if r2 >= r1:
        r2 += 1
    a, b = group[r1], group[r2]
    return b if float(cat.load[b]) < float(cat.load[a]) else a


def _cascade(keys: list[Key], cat: Catalogue, first: int, k: int) -> list[int]:
    chosen = [first]
    level = _quality(cat, first)
    while len(chosen) < k:
        higher = [key for key in keys if _quality(cat, key[3]) > level]
        if not higher:
            break
        nxt = min(higher)[3]
        chosen.append(nxt)
        level = _quality(cat, nxt)
    return chosen


def select(
    score: float,
    cat: Catalogue,
    needs: int,
    min_context: int,
    max_price: float,
    strategy: int,
    k: int,
    seed: int,
    hybrid: tuple[float, float, float, float] | None = None,
) -> npt.NDArray[np.int32]:
    """Indices into ``cat`` of the chosen model and its fallbacks, best first (<= k)."""
    score, strategy, hw = check_select(score, needs, min_context, max_price, strategy, hybrid)
    keys = [
        _key(cat, i, score, strategy, hw)
        for i in range(cat.n)
        if _passes(cat, i, needs, min_context, max_price)
    ]
    if k <= 0 or not keys:
        return np.zeros(0, dtype=np.int32)
    first = _spread(keys, cat, seed)
    if strategy == STRATEGY_CASCADE:
        ranked = _cascade(keys, cat, first, k)
    else:
        ranked = [first, *[key[3] for key in sorted(keys) if key[3] != first][: k - 1]]
    return np.array(ranked, dtype=np.int32)
