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


def test_echo_comes_before_each_choices_first_piece() -> None:
    """vLLM's echo: the final assistant message's text, then the answer, in every choice."""
    start = AnswerStart(strip=False, echoed="The circle is")
    pieces = [(0, " red"), (1, " blue"), (0, ".")]
    assert [start.text(index, piece) for index, piece in pieces] == [
        "The circle is red",
        "The circle is blue",
        ".",
    ]
    full = AnswerStart(strip=False, echoed="Yes")
    assert full.text(0, "") == "Yes"  # an empty answer still echoes


def test_a_stripped_answer_echoes_with_its_first_character() -> None:
    start = AnswerStart(strip=True, echoed="A: ")
    assert [start.text(0, piece) for piece in (" ", " red")] == ["", "A: red"]
