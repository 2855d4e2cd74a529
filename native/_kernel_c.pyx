# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, infer_types=False
"""The compiled twin of ``native._kernel_py`` (which defines the meaning of every number).

The byte scan and the candidate loops run without the GIL, allocate nothing per byte or
per candidate, and compute every float in the same order as the twin. Typed memoryviews
only (no numpy C-API), so one source builds against any numpy.
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport exp, fabs, isfinite, log1p, sqrt, INFINITY
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

import math

import numpy as np

import native._common as common
from native._common import (
    CUE_WORDS,
    Score,
    check_score,
    check_select,
)

IMPLEMENTATION = "c"

cdef enum:
    NDENSE = 29
    CUE_SLOTS = 1024
    BREAKER_OPEN = 2
    CAP_TOOLS = 1
    CAP_VISION = 2
    CAP_JSON = 4
    CAP_REASONING = 8
    CUE_REASONING = 1
    CUE_SIMPLE = 2
    CUE_CREATIVE = 3
    CUE_CODE = 4
    CUE_MATH = 5
    CUE_CONSTRAINT = 6
    STRATEGY_FREE_FIRST = 1
    STRATEGY_COST = 2
    STRATEGY_QUALITY = 3
    STRATEGY_LATENCY = 4
    STRATEGY_HYBRID = 5
    STRATEGY_CASCADE = 6

cdef uint32_t FNV_OFFSET = 2166136261u
cdef uint32_t FNV_PRIME = 16777619u
cdef uint32_t PAIR_SALT = 0x9E3779B9u
cdef double NEAR_EQUAL = 0.02
cdef int64_t DEFAULT_MAX_OUTPUT = 1024

# The enum above restates native._common's numbers for the C compiler; a stale build fails here.
if (NDENSE, BREAKER_OPEN, CAP_TOOLS, CAP_VISION, CAP_JSON, CAP_REASONING, CUE_REASONING,
        CUE_SIMPLE, CUE_CREATIVE, CUE_CODE, CUE_MATH, CUE_CONSTRAINT, STRATEGY_FREE_FIRST,
        STRATEGY_COST, STRATEGY_QUALITY, STRATEGY_LATENCY, STRATEGY_HYBRID, STRATEGY_CASCADE,
        NEAR_EQUAL, DEFAULT_MAX_OUTPUT) != (
        common.N_DENSE, common.BREAKER_OPEN, common.CAP_TOOLS, common.CAP_VISION, common.CAP_JSON,
        common.CAP_REASONING, common.CUE_REASONING, common.CUE_SIMPLE, common.CUE_CREATIVE,
        common.CUE_CODE, common.CUE_MATH, common.CUE_CONSTRAINT, common.STRATEGY_FREE_FIRST,
        common.STRATEGY_COST, common.STRATEGY_QUALITY, common.STRATEGY_LATENCY,
        common.STRATEGY_HYBRID, common.STRATEGY_CASCADE, common.NEAR_EQUAL,
        common.DEFAULT_MAX_OUTPUT):
    raise ImportError("native._kernel_c was built against other constants than native._common;"
                      " rebuild it")

# ------------------------------------------------------------------ hashing


cdef inline uint32_t fmix32(uint32_t h) noexcept nogil:
    h ^= h >> 16
    h *= 0x85EBCA6Bu
    h ^= h >> 13
    h *= 0xC2B2AE35u
    return h ^ (h >> 16)


cdef inline uint32_t pair_key(uint32_t prev, uint32_t h) noexcept nogil:
    return fmix32((prev * FNV_PRIME) ^ h ^ PAIR_SALT)


cdef uint32_t _fnv1a(const unsigned char* data, Py_ssize_t n) noexcept nogil:
    cdef uint32_t h = FNV_OFFSET
    cdef Py_ssize_t i
    cdef unsigned char b
    for i in range(n):
        b = data[i]
        if 65 <= b <= 90:
            b |= 0x20
        h = (h ^ b) * FNV_PRIME
    return h


def fnv1a(bytes word):
    """The word hash: FNV-1a 32 over the bytes, ASCII letters lowercased."""
    return _fnv1a(word, len(word))


cdef uint32_t _cue_keys[CUE_SLOTS]
cdef uint8_t _cue_cats[CUE_SLOTS]


cdef void _add_cue(uint32_t h, uint8_t cat) except *:
    cdef uint32_t slot = h & (CUE_SLOTS - 1)
    while _cue_cats[slot] != 0:
        if _cue_keys[slot] == h:
            raise ImportError("two cue words share a hash")
        slot = (slot + 1) & (CUE_SLOTS - 1)
    _cue_keys[slot] = h
    _cue_cats[slot] = cat


cdef inline int cue_of(uint32_t h) noexcept nogil:
    cdef uint32_t slot = h & (CUE_SLOTS - 1)
    while _cue_cats[slot] != 0:
        if _cue_keys[slot] == h:
            return _cue_cats[slot]
        slot = (slot + 1) & (CUE_SLOTS - 1)
    return 0


def _build_cues():
    cdef bytes raw
    for word, cat in CUE_WORDS.items():
        raw = word.encode()
        _add_cue(_fnv1a(raw, len(raw)), cat)


_build_cues()

# ------------------------------------------------------------------ scoring

cdef enum:
    C_LEAD = 1   # starts a UTF-8 character
    C_WORD = 2   # ASCII letter or byte >= 0x80
    C_DIGIT = 4

cdef uint8_t CLASS[256]
cdef uint8_t LOWER[256]


def _build_tables():
    cdef int b
    for b in range(256):
        CLASS[b] = ((C_LEAD if (b & 0xC0) != 0x80 else 0)
                    | (C_WORD if (65 <= b <= 90 or 97 <= b <= 122 or b >= 0x80) else 0)
                    | (C_DIGIT if 48 <= b <= 57 else 0))
        LOWER[b] = (b | 0x20) if 65 <= b <= 90 else b


_build_tables()


cdef struct Scan:
    int64_t chars, tokens, fences, indented, lines, syntax, digits, ops, latex, questions
    int64_t list_items, non_ascii, cjk, ascii_words, ascii_letters, long_words
    int64_t cues[7]
    int64_t mask
    int64_t keys
    double lex
    const double* hw
    double* hashed


cdef inline bint is_digit(unsigned char b) noexcept nogil:
    return 48 <= b <= 57


cdef inline bint is_letter(unsigned char b) noexcept nogil:
    return 65 <= b <= 90 or 97 <= b <= 122


cdef inline bint is_space(unsigned char b) noexcept nogil:
    return b == 32 or b == 9 or b == 10 or b == 13


cdef inline bint is_closer(unsigned char b) noexcept nogil:
    return b == 46 or b == 41


cdef bint list_marker(const unsigned char* data, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    cdef unsigned char b = data[i]
    cdef Py_ssize_t j
    if b == 45 or b == 42 or b == 43:
        return i + 1 < n and data[i + 1] == 32
    if b == 0xE2:
        return i + 2 < n and data[i + 1] == 0x80 and data[i + 2] == 0xA2
    if is_digit(b):
        j = i
        while j < n and j - i < 4 and is_digit(data[j]):
            j += 1
        return j - i <= 3 and j < n and is_closer(data[j])
    if is_letter(b):
        return i + 1 < n and is_closer(data[i + 1]) and (i + 2 == n or is_space(data[i + 2]))
    return False


cdef inline bint is_syntax(unsigned char b) noexcept nogil:
    return (b == 123 or b == 125 or b == 91 or b == 93 or b == 40 or b == 41 or b == 59
            or b == 60 or b == 62 or b == 61)


cdef inline bint is_operator_byte(unsigned char b) noexcept nogil:
    return (b == 43 or b == 45 or b == 42 or b == 47 or b == 94 or b == 61 or b == 37
            or b == 60 or b == 62)


cdef bint operator_at(const unsigned char* data, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    cdef unsigned char prev = data[i - 1] if i > 0 else 0
    cdef unsigned char nxt = data[i + 1] if i + 1 < n else 0
    return is_digit(prev) or is_digit(nxt) or (prev == 32 and nxt == 32)


cdef inline void add_key(Scan* st, uint32_t key, double* lex) noexcept nogil:
    cdef double sign = -1.0 if key & 0x80000000u else 1.0
    st.keys += 1
    if st.mask < 0:
        return
    if st.hashed != NULL:
        st.hashed[key & st.mask] += sign
    else:
        lex[0] += sign * st.hw[key & st.mask]


cdef inline void end_word(Scan* st, uint32_t h, int64_t ascii_len, int64_t uni,
                          uint32_t prev, bint has_prev, double* lex) noexcept nogil:
    st.tokens += uni + (ascii_len + 7) // 8
    if uni == 0:
        st.ascii_words += 1
        st.ascii_letters += ascii_len
        if ascii_len >= 10:
            st.long_words += 1
    st.cues[cue_of(h)] += 1
    add_key(st, fmix32(h), lex)
    if has_prev:
        add_key(st, pair_key(prev, h), lex)


cdef int64_t scan(Scan* st, const unsigned char* data, Py_ssize_t n) noexcept nogil:
    """One message's bytes into st; returns its character count (mirrors _kernel_py._scan).

    Same counts as the twin's byte loop; a word's bytes are consumed by one tight inner
    loop (the flushes and the line-start test cannot fire inside a word).
    """
    cdef int64_t chars = 0, ascii_len, uni, digit_run = 0, ticks = 0, indent = 0
    cdef double lex = st.lex  # a local: st's fields live in memory, this sum in a register
    cdef bint has_prev = False, line_start = True
    cdef uint32_t h, prev = 0
    cdef Py_ssize_t i = 0
    cdef unsigned char b, c
    while i < n:
        b = data[i]
        c = CLASS[b]
        if c & C_LEAD:
            chars += 1
        if digit_run and not (c & C_DIGIT):
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
                st.list_items += list_marker(data, n, i)
        if c & C_WORD:
            h = FNV_OFFSET
            ascii_len = 0
            uni = 0
            while True:
                h = (h ^ LOWER[b]) * FNV_PRIME
                if b < 0x80:
                    ascii_len += 1
                elif b >= 0xC0:
                    uni += 1
                    st.non_ascii += 1
                    st.cjk += 0xE3 <= b <= 0xED
                i += 1
                if i == n:
                    break
                b = data[i]
                c = CLASS[b]
                if not (c & C_WORD):
                    break
                if c & C_LEAD:
                    chars += 1
            end_word(st, h, ascii_len, uni, prev, has_prev, &lex)
            prev = h
            has_prev = True
            continue
        if c & C_DIGIT:
            st.digits += 1
            digit_run += 1
        elif b == 10:
            line_start = True
            indent = 0
        elif not is_space(b):
            st.tokens += 1
            st.syntax += is_syntax(b)
            if is_operator_byte(b) and operator_at(data, n, i):
                st.ops += 1
            if b == 63:
                st.questions += 1
            elif b == 36 or (b == 92 and i + 1 < n and is_letter(data[i + 1])):
                st.latex += 1
            elif b == 96:
                ticks += 1
        i += 1
    st.tokens += (digit_run + 2) // 3
    st.fences += ticks >= 3
    st.lex = lex
    return chars


cdef inline double share(int64_t part, int64_t whole) noexcept nogil:
    return <double>part / <double>(whole if whole > 0 else 1)


cdef void dense_features(Scan* st, bint has_system, int64_t last_user, int64_t messages,
                         int64_t max_output_tokens, uint32_t needs, double* x) noexcept nogil:
    cdef int64_t asked = max_output_tokens if max_output_tokens > 0 else DEFAULT_MAX_OUTPUT
    cdef int64_t chars = st.chars
    x[0] = log1p(<double>chars)
    x[1] = log1p(<double>st.tokens)
    x[2] = log1p(<double>last_user)
    x[3] = log1p(<double>st.fences)
    x[4] = share(st.indented, st.lines)
    x[5] = share(st.syntax, chars)
    x[6] = log1p(<double>st.cues[CUE_CODE])
    x[7] = share(st.digits, chars)
    x[8] = log1p(<double>st.ops)
    x[9] = log1p(<double>st.latex)
    x[10] = log1p(<double>st.cues[CUE_MATH])
    x[11] = log1p(<double>st.cues[CUE_REASONING])
    x[12] = log1p(<double>st.cues[CUE_SIMPLE])
    x[13] = log1p(<double>st.cues[CUE_CREATIVE])
    x[14] = log1p(<double>st.cues[CUE_CONSTRAINT])
    x[15] = log1p(<double>st.questions)
    x[16] = log1p(<double>st.list_items)
    x[17] = log1p(<double>(messages - 1 if messages > 1 else 0))
    x[18] = 1.0 if has_system else 0.0
    x[19] = share(st.non_ascii, chars)
    x[20] = share(st.cjk, chars)
    x[21] = log1p(<double>asked)
    x[22] = 1.0 if needs & CAP_TOOLS else 0.0
    x[23] = 1.0 if needs & CAP_VISION else 0.0
    x[24] = 1.0 if needs & CAP_JSON else 0.0
    x[25] = 1.0 if needs & CAP_REASONING else 0.0
    x[26] = share(st.ascii_letters, st.ascii_words)
    x[27] = share(st.long_words, st.ascii_words)
    x[28] = log1p(<double>st.lines)


cdef void init_scan(Scan* st, int64_t buckets, const double* hw, double* hashed) noexcept nogil:
    cdef int c
    st.chars = st.tokens = st.fences = st.indented = st.lines = 0
    st.syntax = st.digits = st.ops = st.latex = st.questions = 0
    st.list_items = st.non_ascii = st.cjk = 0
    st.ascii_words = st.ascii_letters = st.long_words = 0
    for c in range(7):
        st.cues[c] = 0
    st.mask = buckets - 1
    st.keys = 0
    st.lex = 0.0
    st.hw = hw
    st.hashed = hashed


cdef struct Turns:
    bint has_system
    int64_t last_user
    int64_t count


cdef int read_messages(Scan* st, object messages, Turns* turns) except -1:
    """Scan every message; note the system prompt, the last user message's size, the count."""
    cdef int64_t chars
    cdef const char* data
    cdef Py_ssize_t size
    cdef object raw
    turns.has_system = False
    turns.last_user = 0
    turns.count = 0
    for role, content in messages:
        try:
            data = PyUnicode_AsUTF8AndSize(content, &size)
        except UnicodeEncodeError:  # lone surrogates: same bytes as the twin's encode
            raw = content.encode("utf-8", "surrogatepass")
            data = <const char*>(<bytes>raw)
            size = len(<bytes>raw)
        # Releasing the GIL costs more than scanning a short message; long ones let it go.
        if size > 2048:
            with nogil:
                chars = scan(st, <const unsigned char*>data, size)
        else:
            chars = scan(st, <const unsigned char*>data, size)
        st.chars += chars
        if role == "system" or role == "developer":
            turns.has_system = True
            continue
        turns.count += 1
        if role == "user":
            turns.last_user = chars
    return 0


cdef inline double logistic(double z) noexcept nogil:
    cdef double e
    if z >= 0.0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)


cdef object _weights = None     # the last Weights scored with, kept alive while cached
cdef const double* _packed = NULL
cdef int64_t _buckets = 0
_empty = np.empty
_float64 = np.float64


cdef void use_weights(object weights) except *:
    """Cache the packed array's address: the same Weights object is used call after call."""
    global _weights, _packed, _buckets
    cdef const double[::1] packed = weights.packed
    cdef int64_t buckets = weights.hash_buckets
    if packed.shape[0] != 1 + 3 * NDENSE + buckets:
        raise ValueError("weights: packed array does not match hash_buckets")
    _packed = &packed[0]
    _buckets = buckets
    _weights = weights


cdef inline void check_score_args(object max_output_tokens, object needs,
                                  int64_t* max_out, uint32_t* need_bits) except *:
    cdef int64_t wide
    try:
        max_out[0] = max_output_tokens
        wide = needs
    except OverflowError:
        check_score(max_output_tokens, needs)  # raises the ValueError naming the argument
        raise
    if wide < 0 or wide > 0xFFFFFFFF:
        check_score(max_output_tokens, needs)
    need_bits[0] = <uint32_t>wide


cdef object _new_object = object.__new__


cdef object make_score(double value, object features, object contributions):
    """A Score, filled through its __dict__: the frozen dataclass __init__ costs 3× more."""
    result = _new_object(Score)
    cdef dict fields = result.__dict__
    fields["value"] = value
    fields["features"] = features
    fields["contributions"] = contributions
    return result


def score(messages, max_output_tokens, needs, weights):
    """The prompt's complexity in [0, 1] with every feature's value and contribution."""
    cdef int64_t max_out = 0
    cdef uint32_t need_bits = 0
    check_score_args(max_output_tokens, needs, &max_out, &need_bits)
    if weights is not _weights:
        use_weights(weights)
    cdef const double* packed = _packed
    cdef Scan st
    init_scan(&st, _buckets, packed + 1 + 3 * NDENSE, NULL)
    cdef Turns turns
    read_messages(&st, messages, &turns)
    features = _empty(NDENSE + 1, _float64)
    contributions = _empty(NDENSE + 1, _float64)
    cdef double[::1] x = features
    cdef double[::1] parts = contributions
    cdef double logit, lexical, part
    cdef int i
    dense_features(&st, turns.has_system, turns.last_user, turns.count, max_out, need_bits, &x[0])
    logit = packed[0]
    for i in range(NDENSE):
        part = packed[1 + 2 * NDENSE + i] * ((x[i] - packed[1 + i]) / packed[1 + NDENSE + i])
        parts[i] = part
        logit += part
    lexical = st.lex / sqrt(<double>st.keys) if st.keys else 0.0
    logit += lexical
    x[NDENSE] = lexical
    parts[NDENSE] = lexical
    return make_score(logistic(logit), features, contributions)


def featurize(messages, max_output_tokens, needs, hash_buckets):
    """Model inputs for fitting: the dense features and the normalised hashed vector."""
    check_score(max_output_tokens, needs)
    if hash_buckets < 0 or hash_buckets & (hash_buckets - 1):
        raise ValueError(f"hash_buckets: must be 0 or a power of two, got {hash_buckets}")
    dense = np.empty(NDENSE, dtype=np.float64)
    hashed = np.zeros(max(hash_buckets, 1), dtype=np.float64)
    cdef double[::1] x = dense
    cdef double[::1] hv = hashed
    cdef Scan st
    init_scan(&st, hash_buckets, NULL, &hv[0])
    cdef Turns turns
    read_messages(&st, messages, &turns)
    dense_features(&st, turns.has_system, turns.last_user, turns.count, max_output_tokens, needs,
                   &x[0])
    hashed = hashed[:hash_buckets]
    if st.keys:
        hashed /= math.sqrt(st.keys)
    return dense, hashed


# ------------------------------------------------------------------ selection


cdef struct Key:
    int tier
    double metric
    double tiebreak
    Py_ssize_t index


cdef struct Columns:
    const double* price_in
    const double* price_out
    const double* quality
    const double* latency
    const double* error_rate
    const double* quota_left
    const double* load
    const int64_t* context
    const uint32_t* caps
    const uint8_t* breaker
    const uint8_t* free
    const uint8_t* allowed


cdef inline bint key_less(Key* a, Key* b) noexcept nogil:
    if a.tier != b.tier:
        return a.tier < b.tier
    if a.metric != b.metric:
        return a.metric < b.metric
    if a.tiebreak != b.tiebreak:
        return a.tiebreak < b.tiebreak
    return a.index < b.index


cdef inline bint passes(Columns* c, Py_ssize_t i, uint32_t needs, int64_t min_context,
                        double max_price) noexcept nogil:
    cdef double p_in, p_out
    # one branch for the common checks: random catalogues would mispredict each of them
    cdef bint ok = ((c.allowed[i] == 1) & (c.breaker[i] != BREAKER_OPEN)
                    & (not (c.quota_left[i] <= 0.0)) & (c.context[i] >= min_context)
                    & ((c.caps[i] & needs) == needs))
    if not ok:
        return False
    if max_price == INFINITY:
        return True
    if c.free[i] == 1:
        return max_price >= 0.0
    p_in = c.price_in[i]
    p_out = c.price_out[i]
    if not (p_in >= 0.0 and p_out >= 0.0):
        return False
    return (p_in if p_in > p_out else p_out) <= max_price


cdef inline double quality_of(Columns* c, Py_ssize_t i) noexcept nogil:
    cdef double q = c.quality[i]
    return q if q == q else 0.0


cdef inline double cost_of(Columns* c, Py_ssize_t i) noexcept nogil:
    cdef double cost
    if c.free[i] == 1:
        return 0.0
    cost = (3.0 * c.price_in[i] + c.price_out[i]) / 4.0
    return cost if cost >= 0.0 else INFINITY


cdef inline double latency_of(Columns* c, Py_ssize_t i) noexcept nogil:
    cdef double lat = c.latency[i]
    return lat if lat >= 0.0 else INFINITY


cdef double hybrid_of(Columns* c, Py_ssize_t i, double score, double* hw) noexcept nogil:
    cdef double cost = cost_of(c, i)
    cdef double lat = latency_of(c, i)
    cdef double e = c.error_rate[i]
    cdef double q = quality_of(c, i)
    cdef double err
    cost = 1.0 if cost == INFINITY else cost / (cost + 1.0)
    lat = 1.0 if lat == INFINITY else lat / (lat + 1000.0)
    if e != e or e > 1.0:
        err = 1.0
    elif e < 0.0:
        err = 0.0
    else:
        err = e
    return hw[0] * cost + hw[1] * ((1.0 - q) * (0.5 + score)) + hw[2] * lat + hw[3] * err


cdef inline double spare_of(Columns* c, Py_ssize_t i, double q) noexcept nogil:
    cdef double f = c.quota_left[i]
    if not f < 1.0:
        f = 1.0
    elif f < 0.0:
        f = 0.0
    return -q + (1.0 - f)


cdef void make_key(Columns* c, Py_ssize_t i, double score, int strategy, double* hw,
                   Key* key) noexcept nogil:
    cdef double q
    key.index = i
    key.tier = 0
    cdef double cost, lat
    cdef int tier
    if strategy == STRATEGY_FREE_FIRST:
        # tiers 0 free+adequate (spare, latency), 1 paid+adequate (cost, -q), 2 (-q, cost),
        # chosen by selects rather than branches
        q = quality_of(c, i)
        cost = cost_of(c, i)
        lat = latency_of(c, i)
        tier = 2 - (q >= score) * (1 + (c.free[i] == 1))
        key.tier = tier
        key.metric = spare_of(c, i, q) if tier == 0 else (cost if tier == 1 else -q)
        key.tiebreak = lat if tier == 0 else (-q if tier == 1 else cost)
    elif strategy == STRATEGY_COST or strategy == STRATEGY_CASCADE:
        key.metric = cost_of(c, i)
        key.tiebreak = -quality_of(c, i)
    elif strategy == STRATEGY_QUALITY:
        key.metric = -quality_of(c, i)
        key.tiebreak = cost_of(c, i)
    elif strategy == STRATEGY_LATENCY:
        key.metric = latency_of(c, i)
        key.tiebreak = cost_of(c, i)
    else:
        key.metric = hybrid_of(c, i, score, hw)
        key.tiebreak = cost_of(c, i)


cdef inline bint near(double metric, double best) noexcept nogil:
    cdef double scale
    if metric == best:
        return True
    scale = fabs(best)
    if scale < 1.0:
        scale = 1.0
    return fabs(metric - best) <= NEAR_EQUAL * scale


cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += 0x9E3779B97F4A7C15u
    z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu
    return z ^ (z >> 31)


cdef Py_ssize_t insert_top(Key* top, Py_ssize_t size, Py_ssize_t cap, Key* key) noexcept nogil:
    """Insert key into the sorted buffer top[0:size] of capacity cap; return the new size."""
    cdef Py_ssize_t j
    if size == cap and not key_less(key, &top[size - 1]):
        return size
    j = size if size < cap else cap - 1
    while j > 0 and key_less(key, &top[j - 1]):
        top[j] = top[j - 1]
        j -= 1
    top[j] = key[0]
    return size + 1 if size < cap else size


cdef Py_ssize_t spread(Columns* c, int8_t* tier, double* metric, Py_ssize_t n, Key* best,
                       uint64_t seed, int32_t* group) noexcept nogil:
    """Power of two choices among the candidates near-equal to best; returns an index.

    ``group`` (room for n) collects the near-equal candidates in index order.
    """
    cdef Py_ssize_t i, m = 0, r1, r2, a, b
    cdef uint64_t state = seed
    cdef int8_t best_tier = <int8_t>best.tier
    for i in range(n):
        if tier[i] == best_tier and near(metric[i], best.metric):
            group[m] = <int32_t>i
            m += 1
    if m < 2:
        return best.index
    r1 = <Py_ssize_t>(splitmix64(&state) % <uint64_t>m)
    r2 = <Py_ssize_t>(splitmix64(&state) % <uint64_t>(m - 1))
    if r2 >= r1:
        r2 += 1
    a = group[r1]
    b = group[r2]
    return b if c.load[b] < c.load[a] else a


cdef Py_ssize_t cascade(Columns* c, int8_t* tier, Py_ssize_t n, double score, Py_ssize_t first,
                        Py_ssize_t k, int32_t* out) noexcept nogil:
    cdef Py_ssize_t count = 1, i, found
    cdef double level = quality_of(c, first)
    cdef Key best, key
    out[0] = <int32_t>first
    while count < k:
        found = -1
        for i in range(n):
            if tier[i] < 0 or not quality_of(c, i) > level:
                continue
            make_key(c, i, score, STRATEGY_CASCADE, NULL, &key)
            if found < 0 or key_less(&key, &best):
                best = key
                found = i
        if found < 0:
            break
        out[count] = <int32_t>found
        count += 1
        level = quality_of(c, found)
    return count


cdef Py_ssize_t rank(Columns* c, Py_ssize_t n, double score, uint32_t needs, int64_t min_context,
                     double max_price, int strategy, double* hw, Py_ssize_t k, uint64_t seed,
                     Key* top, int8_t* tier, double* metric, int32_t* group,
                     int32_t* out) noexcept nogil:
    """Fill out[0:k] with the ranked candidates; return how many there are."""
    cdef Py_ssize_t i, size = 0, count = 0, first, j
    cdef Key key
    for i in range(n):
        if not passes(c, i, needs, min_context, max_price):
            tier[i] = -1
            continue
        make_key(c, i, score, strategy, hw, &key)
        tier[i] = <int8_t>key.tier
        metric[i] = key.metric
        size = insert_top(top, size, k, &key)
    if size == 0:
        return 0
    first = spread(c, tier, metric, n, &top[0], seed, group)
    if strategy == STRATEGY_CASCADE:
        return cascade(c, tier, n, score, first, k, out)
    out[0] = <int32_t>first
    count = 1
    for j in range(size):
        if count == k:
            break
        if top[j].index != first:
            out[count] = <int32_t>top[j].index
            count += 1
    return count


cdef object _catalogue = None   # the last Catalogue selected from, kept alive while cached
cdef Columns _columns


cdef void use_catalogue(object cat) except *:
    """Cache the column addresses: the same Catalogue object is reused decision after decision."""
    global _catalogue, _columns
    cdef const double[:, ::1] f64 = cat._f64
    cdef const int64_t[:, ::1] i64 = cat._i64
    cdef const uint32_t[::1] caps = cat._caps
    cdef const uint8_t[:, ::1] u8 = cat._u8
    cdef Py_ssize_t n = cat.n
    if not (f64.shape[1] == i64.shape[1] == caps.shape[0] == u8.shape[1] == n) or n == 0:
        raise ValueError("cat: columns do not all have n entries")
    _columns.price_in = &f64[0, 0]
    _columns.price_out = &f64[1, 0]
    _columns.quality = &f64[2, 0]
    _columns.latency = &f64[3, 0]
    _columns.error_rate = &f64[4, 0]
    _columns.quota_left = &f64[5, 0]
    _columns.load = &f64[6, 0]
    _columns.context = &i64[0, 0]
    _columns.caps = &caps[0]
    _columns.breaker = &u8[0, 0]
    _columns.free = &u8[1, 0]
    _columns.allowed = &u8[2, 0]
    _catalogue = cat


cdef int select_args(object score, object needs, object min_context, object max_price,
                     object strategy, object hybrid, double* s, uint32_t* need_bits,
                     int64_t* context, double* price, double* hw) except -1:
    """Typed copies of select()'s arguments; anything odd goes to check_select to raise.

    Returns the strategy, UNSPECIFIED mapped to free-first.
    """
    cdef int64_t wide, strat
    cdef int j
    try:
        s[0] = score
        wide = needs
        context[0] = min_context
        price[0] = max_price
        strat = strategy
    except (OverflowError, TypeError):
        check_select(score, needs, min_context, max_price, strategy, hybrid)
        raise
    if (not isfinite(s[0]) or wide < 0 or wide > 0xFFFFFFFF or price[0] != price[0]
            or strat < 0 or strat > STRATEGY_CASCADE):
        check_select(score, needs, min_context, max_price, strategy, hybrid)
    need_bits[0] = <uint32_t>wide
    if hybrid is None:
        hw[0], hw[1], hw[2], hw[3] = 0.4, 0.4, 0.1, 0.1
    else:
        _, _, weights = check_select(score, needs, min_context, max_price, strategy, hybrid)
        for j in range(4):
            hw[j] = weights[j]
    return STRATEGY_FREE_FIRST if strat == 0 else <int>strat


def select(score, cat, needs, min_context, max_price, strategy, k, seed, hybrid=None):
    """Indices into ``cat`` of the chosen model and its fallbacks, best first (<= k)."""
    cdef double s = 0.0, price_cap = 0.0
    cdef uint32_t need_bits = 0
    cdef int64_t context_needed = 0
    cdef double hw[4]
    cdef int strat = select_args(score, needs, min_context, max_price, strategy, hybrid,
                                 &s, &need_bits, &context_needed, &price_cap, hw)
    cdef Py_ssize_t n = cat.n
    cdef Py_ssize_t kk = (n if k >= n else k) if k > 0 else 0
    if kk == 0:
        return _empty(0, np.int32)
    if cat is not _catalogue:
        use_catalogue(cat)
    cdef Columns c = _columns
    cdef uint64_t rng_seed = seed & 0xFFFFFFFFFFFFFFFF
    out = _empty(kk, np.int32)
    cdef int32_t[::1] o = out
    # one block of scratch per call (none per candidate): metric[n], top[kk], group[n], tier[n]
    cdef size_t head = n * sizeof(double) + kk * sizeof(Key)
    cdef char* scratch = <char*>malloc(head + n * sizeof(int32_t) + n)
    if scratch == NULL:
        raise MemoryError("select: no memory for the candidate scratch")
    cdef double* metric = <double*>scratch
    cdef Key* top = <Key*>(scratch + n * sizeof(double))
    cdef int32_t* group = <int32_t*>(scratch + head)
    cdef int8_t* tier = <int8_t*>(scratch + head + n * sizeof(int32_t))
    cdef Py_ssize_t count
    with nogil:
        count = rank(&c, n, s, need_bits, context_needed, price_cap, strat, hw, kk, rng_seed,
                     top, tier, metric, group, &o[0])
        free(scratch)
    return out if count == kk else out[:count]
