"""Pool names: one per model and engine, safe for every place Kubernetes puts them."""

from __future__ import annotations

import re

import pytest
from classroom_operator.names import model_label
from classroom_operator.rollout.pools import pool_name

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("model", [
    "attention",
    "5th-grade-emotion",
    "district.lincoln.attention",
    "a" * 253,
    "x" * 40 + "-" + "y" * 40,
])
def test_names_are_service_names_with_room_for_the_revision_label(model: str) -> None:
    name = pool_name(model, "0123456789abcdef")
    assert DNS_1035.match(name), name
    # The StatefulSet controller appends "-<10-character hash>" in a 63-character label.
    assert len(name) <= 52
    assert name.endswith("-01234567")


def test_a_short_plain_name_is_kept_readable() -> None:
    assert pool_name("attention", "0123456789abcdef") == "attention-01234567"


def test_names_differ_by_engine_so_a_rollover_pool_stands_beside_the_old_one() -> None:
    assert pool_name("attention", "0123456789abcdef") != pool_name("attention", "fedcba9876543210")


@pytest.mark.parametrize(("first", "second"), [
    ("a" * 60 + "-one", "a" * 60 + "-two"),
    ("room.a", "room-a"),
    ("5th", "m-5th"),
])
def test_names_that_slug_alike_do_not_collide(first: str, second: str) -> None:
    assert pool_name(first, "0123456789abcdef") != pool_name(second, "0123456789abcdef")
    assert model_label(first) != model_label(second)


def test_model_labels_fit_a_label_value() -> None:
    assert model_label("attention") == "attention"
    long = model_label("b" * 200)
    assert len(long) <= 63
    assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", long)
