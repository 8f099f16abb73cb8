"""Choosing the server for a new file by free space and recent use (§8 C10)."""

from __future__ import annotations

from photonflow.storage.client._placement import rank_servers

A, B, C = "http://a:1", "http://b:1", "http://c:1"


def test_never_used_first_then_least_recently_used() -> None:
    free = {A: 100, B: 100, C: 100}
    assert rank_servers([A, B, C], size=1, free=free, last_used={A: 5.0})[:2] == [B, C]
    assert rank_servers([A, B, C], size=1, free=free, last_used={A: 5.0, B: 3.0, C: 4.0}) == [B, C, A]


def test_servers_without_room_go_last() -> None:
    free = {A: 10, B: 1000, C: None}
    assert rank_servers([A, B, C], size=500, free=free, last_used={})[-1] == A


def test_nearly_full_server_is_avoided_even_if_least_recently_used() -> None:
    free = {A: 10, B: 1000, C: 900}
    ranked = rank_servers([A, B, C], size=1, free=free, last_used={B: 2.0, C: 1.0})
    assert ranked == [C, B, A]


def test_ties_prefer_more_free_space() -> None:
    assert rank_servers([A, B], size=1, free={A: 500, B: 600}, last_used={}) == [B, A]


def test_unknown_free_space_is_treated_as_roomy() -> None:
    assert rank_servers([A, B], size=10, free={}, last_used={A: 1.0}) == [B, A]
