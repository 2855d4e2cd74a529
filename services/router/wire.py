"""Translation between the generated protobuf messages and the router's domain records.

The only module besides the servicer and the gRPC adapters that touches generated code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.router import breaker, health_report
from services.router.catalogue import ModelInfo, QuotaLimits
from services.router.pipeline import CompletionCall, Outcome, StreamPart
from services.router.reply import Usage
from services.router.request import ChatRequest, read_request
from services.router.routing import FEATURE_NAMES, Decision, RouteRequest
from services.router.usage import UsageRecord
from services.shared.vocabulary import capabilities_of, is_chat_model


def model_info(model: common_pb2.Model) -> ModelInfo:
    """A catalogue model as the router keeps it (unset prices stay unknown)."""
    capabilities = set(model.capabilities)
    if "image" in model.input_modalities:
        capabilities.add(common_pb2.CAPABILITY_VISION)
    if "audio" in model.input_modalities and "text" in model.input_modalities:
        capabilities.add(common_pb2.CAPABILITY_AUDIO)
    return ModelInfo(
        id=model.id,
        provider=model.provider,
        upstream_id=model.upstream_id or model.id.partition("/")[2] or model.id,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        input_price=model.input_price_per_mtok if model.HasField("input_price_per_mtok") else None,
        output_price=model.output_price_per_mtok
        if model.HasField("output_price_per_mtok")
        else None,
        request_price=model.request_price if model.HasField("request_price") else None,
        is_free=model.is_free,
        capabilities=frozenset(capabilities),
        quality=model.quality,
        status=model.status,
        free_tier=quota_limits(model.free_tier),
        chat=is_chat(model),
    )


def is_chat(model: common_pb2.Model) -> bool:
    """Text in and text out (the vocabulary's rule)."""
    return is_chat_model(model.input_modalities, model.output_modalities)


def quota_limits(limits: common_pb2.QuotaLimits) -> QuotaLimits:
    """Free-tier limits as the router keeps them (negative numbers read as "not stated")."""
    return QuotaLimits(
        requests_per_minute=max(limits.requests_per_minute, 0),
        requests_per_day=max(limits.requests_per_day, 0),
        tokens_per_minute=max(limits.tokens_per_minute, 0),
        tokens_per_day=max(limits.tokens_per_day, 0),
        scope=limits.scope,
    )


def chat_request(request: router_pb2.CompletionRequest) -> ChatRequest:
    """The request's OpenAI body, read and validated (InvalidArgument naming the field)."""
    return read_request(request.body)


def route_request(request: router_pb2.CompletionRequest, chat: ChatRequest) -> RouteRequest:
    constraints = request.constraints
    return RouteRequest(
        messages=chat.messages,
        model=chat.model,
        max_tokens=chat.max_tokens,
        capabilities=tuple(constraints.capabilities),
        needs=chat.needs,
        need_fields=chat.need_fields,
        extra_tokens=chat.extra_tokens,
        min_context=constraints.min_context,
        allow=tuple(constraints.allow),
        deny=tuple(constraints.deny),
        max_price=(
            constraints.max_price_per_mtok if constraints.HasField("max_price_per_mtok") else None
        ),
        free_only=constraints.free_only,
        strategy=request.strategy or chat.strategy,
    )


def completion_call(request: router_pb2.CompletionRequest, request_id: str) -> CompletionCall:
    chat = chat_request(request)
    return CompletionCall(
        chat=chat,
        route=route_request(request, chat),
        key_id=request.key_id,
        team_id=request.team_id,
        request_id=request.request_id or request_id,
        cache=int(request.cache),
    )


def _candidate(model: ModelInfo) -> router_pb2.Candidate:
    candidate = router_pb2.Candidate(
        model_id=model.id,
        provider=model.provider,
        is_free=model.is_free,
        quality=model.quality,
        context_window=model.context_window,
    )
    if model.input_price is not None:
        candidate.input_price_per_mtok = model.input_price
    if model.output_price is not None:
        candidate.output_price_per_mtok = model.output_price
    return candidate


def decision_message(decision: Decision) -> router_pb2.RouteDecision:
    message = router_pb2.RouteDecision(
        chosen=_candidate(decision.chosen),
        fallbacks=[_candidate(m) for m in decision.fallbacks],
        complexity=decision.complexity,
        strategy=decision.strategy,  # type: ignore[arg-type]
        reason=decision.reason,
        catalog_version=decision.catalog_version,
        decision_us=decision.decision_us,
        needs=[int(c) for c in capabilities_of(decision.needs)],  # type: ignore[misc]
        prompt_tokens=decision.prompt_tokens,
        min_context=decision.min_context,
        weights_version=decision.weights_version,
    )
    message.MergeFromString(
        _FEATURES.encode(decision.feature_values, decision.feature_contributions)
    )
    return message


class FeatureEncoder:
    """The `features` field of RouteDecision as wire bytes, from the kernel's two arrays.

    Building ~30 FeatureContribution messages one by one costs ~30 µs per decision; the
    names never change, so the bytes are a fixed template with the doubles written into
    it (numpy, no Python loop), merged into the message in one parse (~4 µs).
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        template = bytearray()
        offsets: list[int] = []
        for name in names:
            label = _FEATURE_NAME_TAG + _varint(len(name.encode())) + name.encode()
            body_len = len(label) + 2 * (1 + 8)
            template += _FEATURES_TAG + _varint(body_len) + label
            for tag in (_VALUE_TAG, _CONTRIBUTION_TAG):
                template += tag
                offsets.append(len(template))
                template += bytes(8)
        self.template = np.frombuffer(bytes(template), dtype=np.uint8)
        self.positions = (np.array(offsets)[:, None] + np.arange(8)[None, :]).ravel()
        self.count = len(names)

    def encode(
        self, values: npt.NDArray[np.float64], contributions: npt.NDArray[np.float64]
    ) -> bytes:
        doubles = np.empty(2 * self.count, dtype="<f8")
        doubles[0::2] = values
        doubles[1::2] = contributions
        out = self.template.copy()
        out[self.positions] = doubles.view(np.uint8)
        return out.tobytes()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_FEATURES_TAG = _varint(4 << 3 | 2)  # RouteDecision.features, length-delimited
_FEATURE_NAME_TAG = _varint(1 << 3 | 2)  # FeatureContribution.name
_VALUE_TAG = _varint(2 << 3 | 1)  # FeatureContribution.value, fixed64
_CONTRIBUTION_TAG = _varint(3 << 3 | 1)  # FeatureContribution.contribution, fixed64
_FEATURES = FeatureEncoder(FEATURE_NAMES)


def usage_message(usage: Usage) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        estimated=not usage.stated,
    )


def outcome_message(outcome: Outcome) -> router_pb2.Outcome:
    decision, model = outcome.decision, outcome.model
    message = router_pb2.Outcome(
        id=outcome.id,
        model=model.id if model else "",
        provider=model.provider if model else "",
        strategy=decision.strategy if decision else 0,  # type: ignore[arg-type]
        complexity=decision.complexity if decision else 0.0,
        reason=decision.reason if decision else "",
        attempts=outcome.attempts,
        cache_hit=outcome.cache_hit,
        free=bool(model and model.is_free),
    )
    if outcome.usage is not None:
        message.usage.CopyFrom(usage_message(outcome.usage))
    if outcome.cost_usd is not None:
        message.cost_usd = outcome.cost_usd
    if outcome.saved_usd is not None:
        message.saved_usd = outcome.saved_usd
    return message


def completion_message(body: bytes, outcome: Outcome) -> router_pb2.CompletionResponse:
    return router_pb2.CompletionResponse(body=body.decode(), outcome=outcome_message(outcome))


def chunk_message(part: StreamPart) -> router_pb2.CompletionChunk:
    message = router_pb2.CompletionChunk(events=[event.decode() for event in part.events])
    if part.outcome is not None:
        message.outcome.CopyFrom(outcome_message(part.outcome))
    return message


def usage_event(record: UsageRecord) -> analytics_pb2.UsageEvent:
    seconds = math.floor(record.time)
    stamp = Timestamp(seconds=seconds, nanos=min(round((record.time - seconds) * 1e9), 999_999_999))
    event = analytics_pb2.UsageEvent(
        event_id=record.event_id,
        time=stamp,
        key_id=record.key_id,
        request_id=record.request_id,
        requested_model=record.requested_model,
        served_model=record.served_model,
        provider=record.provider,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
        attempts=record.attempts,
        cache_hit=record.cache_hit,
        status=int(record.status),  # type: ignore[arg-type]
        complexity=record.complexity,
        strategy=record.strategy,  # type: ignore[arg-type]
        error=record.error,
        stream=record.stream,
        team_id=record.team_id,
        cached_tokens=record.cached_tokens,
        reasoning_tokens=record.reasoning_tokens,
        escalations=record.escalations,
        escalation_reason=record.escalation_reason,
        features=record.features,
        capabilities=[int(c) for c in capabilities_of(record.capabilities)],  # type: ignore[misc]
    )
    if record.cost_usd is not None:
        event.cost_usd = record.cost_usd
    if record.baseline_cost_usd is not None:
        event.baseline_cost_usd = record.baseline_cost_usd
    return event


_BREAKER_STATE = {
    breaker.CLOSED: router_pb2.BREAKER_STATE_CLOSED,
    breaker.HALF_OPEN: router_pb2.BREAKER_STATE_HALF_OPEN,
    breaker.OPEN: router_pb2.BREAKER_STATE_OPEN,
}


def provider_health_message(
    models: Iterable[health_report.ModelHealth], catalog_version: int, quota_counted: bool
) -> router_pb2.ProviderHealthResponse:
    return router_pb2.ProviderHealthResponse(
        models=[_model_health(m) for m in models],
        catalog_version=catalog_version,
        quota_counted=quota_counted,
    )


def _model_health(health: health_report.ModelHealth) -> router_pb2.ModelHealth:
    message = router_pb2.ModelHealth(
        model_id=health.model_id,
        provider=health.provider,
        breaker=_BREAKER_STATE[health.state],
        retry_in_s=health.retry_in_s,
        latency_ms=health.latency_ms,
        error_rate=health.error_rate,
        inflight=health.inflight,
    )
    if health.quota is not None:
        q = health.quota
        limits = q.limits
        message.quota.CopyFrom(
            router_pb2.QuotaUse(
                quota_key=q.key,
                requests_minute=q.used[0],
                requests_day=q.used[1],
                tokens_minute=q.used[2],
                tokens_day=q.used[3],
                limits=common_pb2.QuotaLimits(
                    requests_per_minute=limits.requests_per_minute,
                    requests_per_day=limits.requests_per_day,
                    tokens_per_minute=limits.tokens_per_minute,
                    tokens_per_day=limits.tokens_per_day,
                    scope=limits.scope,  # type: ignore[arg-type]
                ),
                remaining=q.remaining,
            )
        )
    return message
