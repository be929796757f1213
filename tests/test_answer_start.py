"""An entry with strip_leading_space gets answers without their first token's space, the same
in full responses and in streams; other entries' answers are untouched."""

from __future__ import annotations

from server.chat.answer_start import AnswerStart


def test_a_full_answer_loses_only_its_leading_space() -> None:
    assert AnswerStart(strip=True).text(0, " The circle is red. ") == "The circle is red. "


def test_a_stream_drops_whitespace_until_the_first_character_of_each_choice() -> None:
    start = AnswerStart(strip=True)
    pieces = [(0, " "), (1, " The"), (0, " The"), (0, " circle"), (1, " square"), (0, " ")]
    sent = [start.text(index, piece) for index, piece in pieces]
    assert sent == ["", "The", "The", " circle", " square", " "]


def test_without_the_setting_nothing_changes() -> None:
    start = AnswerStart(strip=False)
    assert [start.text(0, piece) for piece in (" ", " The")] == [" ", " The"]
