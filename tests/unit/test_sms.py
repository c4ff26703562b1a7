"""SMS segments (what a text costs) and reply keywords (what a customer's reply means)."""

from __future__ import annotations

import pytest

from shared.core.sms import SmsSegments, is_help_keyword, opt_out_keyword, segments


def test_a_plain_text_of_160_characters_is_one_gsm_segment():
    assert segments("a" * 160) == SmsSegments("GSM-7", 160, 1)


def test_one_more_character_makes_two_segments_of_153():
    assert segments("a" * 161) == SmsSegments("GSM-7", 161, 2)
    assert segments("a" * 306).segments == 2
    assert segments("a" * 307).segments == 3


def test_accented_letters_of_the_gsm_alphabet_stay_gsm():
    assert segments("Grüße aus Köln, Ça va? ñ £5 ¿¡ à").encoding == "GSM-7"


@pytest.mark.parametrize("character", list("^{}\\[]~|€"))
def test_extension_characters_count_double(character):
    # Given 159 plain characters, one extension character makes 161 septets: two segments
    counted = segments("a" * 159 + character)

    assert (counted.encoding, counted.characters, counted.segments) == ("GSM-7", 161, 2)


def test_an_extension_character_is_never_split_across_segments():
    # 152 plain + "€" (2) = 154 > 153: the euro moves whole into the second segment
    text = "a" * 152 + "€" + "a" * 152

    assert segments(text).characters == 306
    assert segments(text).segments == 3


def test_an_emoji_turns_an_sms_into_ucs2_and_counts_two_segments_at_71_characters():
    # Given 69 letters and one emoji (a surrogate pair, two UTF-16 code units)
    counted = segments("a" * 69 + "🛒")

    assert counted == SmsSegments("UCS-2", 71, 2)


def test_ucs2_fits_70_units_in_one_segment_and_67_per_part():
    assert segments("ж" * 70) == SmsSegments("UCS-2", 70, 1)
    assert segments("ж" * 134).segments == 2
    assert segments("ж" * 135).segments == 3


def test_a_curly_quote_is_enough_to_leave_gsm():
    assert segments("It\u2019s back in stock").encoding == "UCS-2"  # a curly apostrophe


def test_an_empty_text_has_no_segments():
    assert segments("").segments == 0


@pytest.mark.parametrize(
    ("reply", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop.  ", "STOP"),
        ("arret", "ARRET"),
        ("opt-out", "OPT-OUT"),
        ("OptOut", "OPTOUT"),
        ("td", "TD"),
        ("Unsubscribe", "UNSUBSCRIBE"),
        ("cancel", "CANCEL"),
        ("end", "END"),
        ("quit", "QUIT"),
        ("remove", "REMOVE"),
        ("revoke", "REVOKE"),
        ("opt   out", "OPT OUT"),
        ("Stop all", "STOP ALL"),
        ("unsubscribe all!", "UNSUBSCRIBE ALL"),
    ],
)
def test_opt_out_replies_are_recognised(reply, keyword):
    assert opt_out_keyword(reply) == keyword


@pytest.mark.parametrize("reply", ["yes", "please don't stop", "stopped", "STOP IT NOW PLEASE", "", "help"])
def test_other_replies_are_not_opt_outs(reply):
    assert opt_out_keyword(reply) is None


def test_help_and_info_ask_for_help():
    assert is_help_keyword(" help ")
    assert is_help_keyword("INFO")
    assert not is_help_keyword("helpful")
    assert not is_help_keyword("stop")
