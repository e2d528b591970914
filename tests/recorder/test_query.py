"""Reading times and windows as users write them: durations, clock times, midnight."""

from __future__ import annotations

import datetime as dt

import pytest

from flux_lsp.recorder.query import QueryError, parse_duration, parse_time, parse_window


def at(day: int, hour: int, minute: int) -> float:
    return dt.datetime(2026, 3, day, hour, minute).timestamp()


MORNING = at(10, 9, 0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h30m", 5400), ("1w", 604800), ("2d", 172800), ("90s", 90),
     ("1h 30min", 5400), ("-1h30m", 5400), ("1.5h", 5400)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_time(text, MORNING) == MORNING - seconds


def test_a_bare_clock_time_is_its_latest_past_occurrence() -> None:
    assert parse_time("23:59", MORNING) == at(9, 23, 59)
    assert parse_time("08:30", MORNING) == at(10, 8, 30)
    assert parse_time("09:00", MORNING) == MORNING


def test_windows_wrap_midnight() -> None:
    assert parse_window("23:50..00:10", MORNING) == (at(9, 23, 50), at(10, 0, 10))
    just_after = at(10, 0, 5)  # inside the window: its end is still to come
    assert parse_window("23:50..00:10", just_after) == (at(9, 23, 50), at(10, 0, 10))
    assert parse_window("09:00..09:20", at(10, 9, 10)) == (at(10, 9, 0), at(10, 9, 20))
    assert parse_window("-1h30m..now", MORNING) == (MORNING - 5400, MORNING)


@pytest.mark.parametrize("text", ["1h30", "25:00", "yesterday", "-1x"])
def test_bad_times_say_what_is_expected(text: str) -> None:
    with pytest.raises(QueryError, match="bad time"):
        parse_time(text, MORNING)


@pytest.mark.parametrize("text", ["-10m..-20m", "09:20..09:00"])
def test_a_window_ending_before_it_starts_is_refused(text: str) -> None:
    with pytest.raises(QueryError, match="the end is not after the start"):
        parse_window(text, at(10, 9, 30))
