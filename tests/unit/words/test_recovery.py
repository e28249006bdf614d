"""The one-version rule in words (bot/words/recovery.py): what the dr card says of a backup's release."""

from __future__ import annotations

from bot.model.update import compare_versions
from bot.words.recovery import version_text


def test_a_backup_several_releases_back_names_the_count_and_the_ends() -> None:
    said = version_text(compare_versions("1.1809.0.45", "1.2108.0.32"))
    assert "more than one release older (14 releases came between: 1811, 1901, 1902, ... 2102)" in said
    assert said.endswith("not supported.")


def test_one_release_between_is_named() -> None:
    said = version_text(compare_versions("1.2306.0.16", "1.2406.1.23"))
    assert "(release 2311 came between): not supported." in said


def test_a_gap_past_the_known_releases_says_it_cannot_tell() -> None:
    said = version_text(compare_versions("1.2506.0.15", "1.2612.0.1"))
    assert "cannot tell whether a release came between" in said and "supported:" not in said


def test_a_missing_version_is_not_called_a_gap() -> None:
    said = version_text(compare_versions(None, "1.2108.0.32"))
    assert "missing or not shaped like 1.YYMM.P.B" in said and "came between" not in said
