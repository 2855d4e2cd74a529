"""How many requests a day's free quota serves: free-first sparing scarce quota, or not.

The catalogue is real: the free models of the newest recorded model list (bench/recorded.py)
of every provider in config/providers.toml that states a free tier, made free and given
their quality estimates by the catalog's own parser, free policy and estimator, with that
provider's free-tier limits (requests and tokens per minute and per day; per model, per
provider or per account). The traffic is real too: the labelled prompts of data/prompts,
each scored by the shipped weights, shuffled with a fixed seed and spread evenly over one
UTC day, replayed 1, 2 and 4 times over (a quiet, a busy and a heavy day).

Every request is one free-first ``select`` (free models only, k = 1) by the compiled
kernel over the models whose quota is not used up; the chosen model's quota is charged
(one request; the prompt's estimated tokens plus ``ANSWER_TOKENS``). Two runs per day:

- ``spare``: the kernel sees each model's quota fraction (what the router gives it);
- ``blind``: the same kernel sees every not-exhausted quota as untouched (inf): the old
  free-first, which always took the best adequate free model.

A request is *served well* when the chosen model's quality covers its score, *served* when
a free model took it at all. The figure: how many more requests are served well.

    python -m bench.quota [--days 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.recorded import newest_listing, recorded_providers
from native import kernel
from scorer.labelled import default_data, load
from services.catalog.formats import parse_models
from services.catalog.freeness import FreePolicy, classify
from services.catalog.quality import with_qualities
from services.catalog.records import ModelRecord, QuotaLimits, QuotaScope
from services.shared.providers import FreeTier, load_providers

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS_FILE = ROOT / "config" / "providers.toml"
RESULTS = ROOT / "bench" / "results" / "quota.json"
DAY_S = 86_400
ANSWER_TOKENS = 300  # charged per answer on top of the prompt
SEED = 11
_SCOPES = {
    "per_model": QuotaScope.PER_MODEL,
    "per_provider": QuotaScope.PER_PROVIDER,
    "per_account": QuotaScope.PER_ACCOUNT,
}


def _limits(tier: FreeTier) -> QuotaLimits:
    return QuotaLimits(
        tier.requests_per_minute,
        tier.requests_per_day,
        tier.tokens_per_minute,
        tier.tokens_per_day,
        _SCOPES.get(tier.scope, QuotaScope.PER_MODEL),
    )


def free_models() -> list[ModelRecord]:
    """The recorded free chat models of every provider with a stated free tier."""
    providers, errors = load_providers(PROVIDERS_FILE)
    if errors:
        raise SystemExit(f"bench.quota: {PROVIDERS_FILE}: {errors[0]}")
    models: list[ModelRecord] = []
    for provider in providers:
        limits = _limits(provider.free_tier)
        stated = (limits.requests_per_minute, limits.requests_per_day, limits.tokens_per_day)
        if not any(stated) or provider.name not in recorded_providers():
            continue
        policy = FreePolicy(mode=provider.free_policy, free_tier=limits)
        for body in newest_listing(provider.name):
            parsed = parse_models(body, provider.name)  # a recording's own format
            records = with_qualities([classify(r, policy) for r in parsed.records])
            models += [r for r in records if r.is_free and "text" in r.output_modalities]
    if not models:
        raise SystemExit("bench.quota: no recorded model list of a provider with a free tier")
    return models


def quota_key(model: ModelRecord) -> str:
    scope = model.free_tier.scope
    if scope in (QuotaScope.PER_PROVIDER, QuotaScope.PER_ACCOUNT):
        return model.provider
    return model.id


class Ledger:
    """Requests and tokens used per quota key in the current UTC minute and day, as arrays,
    and every model's share left of the tightest of its stated limits."""

    def __init__(self, models: Sequence[ModelRecord]) -> None:
        keys = [quota_key(m) for m in models]
        index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        self.key_of = np.array([index[k] for k in keys], dtype=np.int64)
        # columns: requests/minute, requests/day, tokens/minute, tokens/day (0 = not stated)
        self.limits = np.array(
            [
                [
                    m.free_tier.requests_per_minute,
                    m.free_tier.requests_per_day,
                    m.free_tier.tokens_per_minute,
                    m.free_tier.tokens_per_day,
                ]
                for m in models
            ],
            dtype=np.float64,
        ).reshape(-1, 4)
        self.used = np.zeros((len(index), 4))
        self.minute = -1

    def charge(self, model: int, tokens: int) -> None:
        self.used[self.key_of[model]] += (1.0, 1.0, tokens, tokens)

    def left(self, now: float) -> npt.NDArray[np.float64]:
        """Each model's smallest share left of a stated limit (inf when none is stated)."""
        if int(now // 60) != self.minute:  # a new UTC minute: the minute windows restart
            self.minute = int(now // 60)
            self.used[:, [0, 2]] = 0.0
        used = self.used[self.key_of]
        stated = self.limits > 0
        shares = np.where(stated, 1.0 - used / np.where(stated, self.limits, 1.0), np.inf)
        smallest: npt.NDArray[np.float64] = np.clip(shares.min(axis=1), 0.0, None)
        return smallest


def _catalogue(models: Sequence[ModelRecord]) -> kernel.Catalogue:
    cat = kernel.Catalogue(len(models))
    cat.quality[:] = [m.quality for m in models]
    cat.free[:] = 1
    cat.price_in[:] = 0.0
    cat.price_out[:] = 0.0
    cat.context[:] = [m.context_window or 8192 for m in models]
    cat.latency_ms[:] = 500.0
    return cat


def simulate(
    models: Sequence[ModelRecord], requests: Sequence[tuple[float, int]], spare: bool
) -> dict[str, Any]:
    """One day of ``requests`` (score, tokens) spread evenly; what each policy served."""
    cat = _catalogue(models)
    ledger = Ledger(models)
    served = well = 0
    spent_on_easy = 0  # requests the strongest model took that a weaker one could have done
    strongest = float(np.max(cat.quality))
    gap = DAY_S / max(len(requests), 1)
    for n, (score, tokens) in enumerate(requests):
        left = ledger.left(n * gap)
        cat.quota_left[:] = left if spare else np.where(left > 0.0, math.inf, 0.0)
        picked = kernel.select(score, cat, 0, 0, 0.0, kernel.STRATEGY_FREE_FIRST, 1, n)
        if len(picked) == 0:
            continue
        i = int(picked[0])
        ledger.charge(i, tokens)
        served += 1
        q = float(cat.quality[i])
        if q >= score:
            well += 1
            if q == strongest and score < 0.5 * strongest:
                spent_on_easy += 1
    return {
        "requests": len(requests),
        "served": served,
        "served_well": well,
        "strongest_spent_on_easy": spent_on_easy,
    }


def day_of_requests(repeat: int) -> list[tuple[float, int]]:
    """The labelled prompts, scored, shuffled (fixed seed), ``repeat`` times over."""
    weights = kernel.load_weights()
    scored = []
    for example in load(default_data()):
        result = kernel.score(list(example.messages), 0, 0, weights)
        tokens = round(math.expm1(float(result.features[1]))) + ANSWER_TOKENS
        scored.append((result.value, tokens))
    rng = np.random.default_rng(SEED)
    day: list[tuple[float, int]] = []
    for _ in range(repeat):
        day += [scored[j] for j in rng.permutation(len(scored))]
    return day


def run(days: Sequence[int]) -> dict[str, Any]:
    models = free_models()
    by_provider: dict[str, int] = defaultdict(int)
    for m in models:
        by_provider[m.provider] += 1
    result: dict[str, Any] = {"catalogue": dict(by_provider), "days": {}}
    for repeat in days:
        requests = day_of_requests(repeat)
        started = time.perf_counter()
        blind = simulate(models, requests, spare=False)
        spare = simulate(models, requests, spare=True)
        more = spare["served_well"] - blind["served_well"]
        result["days"][f"{repeat}x"] = {
            "blind": blind,
            "spare": spare,
            "more_served_well": more,
            "more_served_well_pct": 100.0 * more / max(blind["served_well"], 1),
            "seconds": time.perf_counter() - started,
        }
        print(f"  simulated {repeat}x", file=sys.stderr)
    return result


def format_table(result: dict[str, Any]) -> str:
    catalogue = ", ".join(f"{p} {n}" for p, n in sorted(result["catalogue"].items()))
    lines = [
        f"free models (recorded lists, limits from config/providers.toml): {catalogue}",
        f"{'day':<6}{'requests':>10}  {'policy':<7}{'served':>9}{'served well':>13}"
        f"{'strongest on easy':>19}",
    ]
    for label, row in result["days"].items():
        for policy in ("blind", "spare"):
            cell = row[policy]
            lines.append(
                f"{label if policy == 'blind' else '':<6}"
                f"{cell['requests'] if policy == 'blind' else '':>10}  {policy:<7}"
                f"{cell['served']:>9}{cell['served_well']:>13}{cell['strongest_spent_on_easy']:>19}"
            )
        lines.append(
            f"{'':<6}{'':>10}  sparing scarce quota serves {row['more_served_well']:+d} more "
            f"requests well ({row['more_served_well_pct']:+.1f} %)"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quota", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--days", default="1,2,4", help="traffic volumes, as repeats of the set")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    days = [int(d) for d in args.days.split(",") if d.strip()]
    result = run(days)
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
