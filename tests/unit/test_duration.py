from datetime import timedelta

import pytest

from certmint.api import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2160h", timedelta(days=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("2m", timedelta(minutes=2)),
    ],
)
def test_go_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "-1h", "1d", "h", "1h-30m", "10", " 1h"])
def test_invalid_durations_are_rejected_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="Go syntax"):
        parse_duration(text)
