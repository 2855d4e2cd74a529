"""Feedback on an answer: a score in [0, 1] (thumbs up is 1, down is 0) from the calling
application or from a judge, kept with the usage event of that request. One score per
(request, source): a later one from the same source replaces the earlier."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from services.analytics.usage import MAX_NAME
from services.shared.errors import InvalidArgument


class FeedbackSource(enum.StrEnum):
    APPLICATION = "application"
    JUDGE = "judge"


class Thumb(enum.StrEnum):
    UP = "up"
    DOWN = "down"

    @property
    def score(self) -> float:
        return 1.0 if self is Thumb.UP else 0.0


@dataclass(frozen=True, slots=True)
class Feedback:
    request_id: str
    score: float
    source: FeedbackSource
    key_id: str = ""  # when set, the request must be this key's


@dataclass(frozen=True, slots=True)
class Recorded:
    event_id: str
    feedback: Feedback
    replaced: bool


def feedback(
    request_id: str,
    *,
    score: float | None,
    thumb: Thumb | None,
    source: FeedbackSource | None,
    key_id: str = "",
) -> Feedback:
    """A validated feedback; exactly one of `score` and `thumb`."""
    if not request_id:
        raise InvalidArgument("required", field="request_id")
    if len(request_id) > MAX_NAME:
        raise InvalidArgument(f"at most {MAX_NAME} characters", field="request_id")
    if source is None:
        raise InvalidArgument("required: application or judge", field="source")
    if len(key_id) > MAX_NAME:
        raise InvalidArgument(f"at most {MAX_NAME} characters", field="key_id")
    if score is None and thumb is None:
        raise InvalidArgument("required: a score in [0, 1], or a thumb", field="score")
    if score is not None and thumb is not None:
        raise InvalidArgument("give a score or a thumb, not both", field="thumb")
    if score is not None and not (math.isfinite(score) and 0 <= score <= 1):
        raise InvalidArgument(f"expected a number in [0, 1], got {score}", field="score")
    value = score if score is not None else thumb.score  # type: ignore[union-attr]
    return Feedback(request_id, value, source, key_id)
