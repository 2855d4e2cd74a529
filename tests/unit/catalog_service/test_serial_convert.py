"""Record ⇄ JSON and record ⇄ protobuf round trips; unknown prices stay unknown."""

from __future__ import annotations

from freeway.common.v1 import common_pb2
from services.catalog import convert, serial
from services.catalog.catalogue import Entry, Event
from services.catalog.records import FreeReason, ModelRecord, QuotaLimits, QuotaScope
from tests.unit.catalog_service.records import added

RICH = ModelRecord(
    id="openrouter/a:free",
    provider="openrouter",
    upstream_id="a:free",
    display_name="A",
    context_window=131072,
    max_output_tokens=8192,
    input_price_per_mtok=0.0,
    output_price_per_mtok=0.0,
    request_price=None,
    price_source="provider",
    is_free=True,
    free_reason=FreeReason.FREE_VARIANT,
    input_modalities=("text", "image"),
    output_modalities=("text",),
    capabilities=frozenset({"tools", "vision", "json", "reasoning"}),
    quality=0.5,
    quality_source="test",
    free_tier=QuotaLimits(20, 50, 0, 0, QuotaScope.PER_ACCOUNT),
    status="active",
    extra={"created": "1700000000"},
)
UNPRICED = ModelRecord(id="p/x", provider="p", upstream_id="x")


def test_json_round_trip() -> None:
    assert serial.loads(serial.dumps(RICH)) == RICH
    assert serial.loads(serial.dumps(UNPRICED)) == UNPRICED
    assert serial.record_to_dict(UNPRICED)["input_price_per_mtok"] is None


def test_proto_round_trip_and_enums() -> None:
    message = convert.record_to_proto(RICH, first_seen=10.5, last_seen=20.25)

    assert convert.record_from_proto(message) == RICH
    assert message.free_reason == common_pb2.FREE_REASON_FREE_VARIANT
    assert list(message.capabilities) == [
        common_pb2.CAPABILITY_TOOLS,
        common_pb2.CAPABILITY_VISION,
        common_pb2.CAPABILITY_JSON,
        common_pb2.CAPABILITY_REASONING,
    ]
    assert message.HasField("input_price_per_mtok")
    assert message.input_price_per_mtok == 0.0
    assert convert.seconds(message.last_seen) == 20.25


def test_unknown_prices_are_unset_never_zero() -> None:
    message = convert.record_to_proto(UNPRICED)

    assert not message.HasField("input_price_per_mtok")
    assert not message.HasField("output_price_per_mtok")
    assert not message.HasField("request_price")
    assert convert.record_from_proto(message).input_price_per_mtok is None


def test_each_change_message_is_built_once_and_shared() -> None:
    messages = convert.EventMessages(size=2)
    one, two, three = (added(v, f"m{v}") for v in (1, 2, 3))
    live = Event(1, one.at, change=one)
    backlog = Event(1, one.at, change=one)  # another Event object for the same change

    first = messages.message(live)
    again = messages.message(backlog)
    messages.message(Event(2, two.at, change=two))
    messages.message(Event(3, three.at, change=three))  # evicts change 1
    rebuilt = messages.message(live)

    assert first is again
    assert (first.version, first.change.model_id) == (1, "p/m1")
    assert first.at.seconds == 101
    assert rebuilt is not first
    assert rebuilt == first


def test_snapshots_are_built_for_each_watcher() -> None:
    messages = convert.EventMessages()
    snapshot = Event(4, 100.0, snapshot=(Entry(RICH, 1.0, 2.0),))

    first, second = messages.message(snapshot), messages.message(snapshot)

    assert first is not second
    assert [m.id for m in first.snapshot.models] == [RICH.id]


def test_a_model_message_is_reused_until_its_entry_is_replaced() -> None:
    models = convert.ModelMessages(size=2)
    entry = Entry(RICH, 1.0, 2.0)
    seen_again = Entry(RICH, 1.0, 3.0)  # what touch() puts in the entry's place

    first = models.model(entry)
    again = models.model(entry)
    replaced = models.model(seen_again)
    models.model(Entry(UNPRICED, 1.0, 2.0))
    models.model(Entry(ModelRecord(id="p/y", provider="p", upstream_id="y"), 1.0, 2.0))
    evicted = models.model(seen_again)  # the oldest id went to make room

    assert first is again
    assert first == convert.entry_to_proto(entry)
    assert replaced is not first
    assert convert.seconds(replaced.last_seen) == 3.0
    assert evicted is not replaced
    assert evicted == replaced


def test_a_snapshot_carries_each_entry_as_its_model_message() -> None:
    models = convert.ModelMessages()
    messages = convert.EventMessages(models=models)
    entry = Entry(RICH, 1.0, 2.0)

    event = messages.message(Event(4, 100.0, snapshot=(entry,)))

    assert list(event.snapshot.models) == [models.model(entry)]
    assert event.version == 4
