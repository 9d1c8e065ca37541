import pytest

from outagedesk.domain.keywords import Classifier, MessageKind

classify = Classifier().classify


@pytest.mark.parametrize(
    "word",
    [
        "STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "REVOKE", "OPTOUT",
        "OPT-OUT", "OPT OUT", "REMOVE", "ARRET", "TD", "ALTO",
    ],
)  # fmt: skip
def test_every_opt_out_word_in_any_case_and_spacing(word: str) -> None:
    for variant in (word, word.lower(), f"  {word.title()}  ", f"{word}.", f"\n{word}!\n"):
        result = classify(variant)
        assert result.kind is MessageKind.OPT_OUT, variant
        assert result.keyword == word


def test_opt_out_with_extra_inner_spaces() -> None:
    assert classify("opt   out").kind is MessageKind.OPT_OUT


@pytest.mark.parametrize("word", ["START", "UNSTOP", "YES", "INICIO"])
def test_opt_in_words(word: str) -> None:
    assert classify(word.lower()).kind is MessageKind.OPT_IN


@pytest.mark.parametrize("word", ["HELP", "INFO", "AUXILIO"])
def test_help_words(word: str) -> None:
    assert classify(f" {word.capitalize()} ").kind is MessageKind.HELP


def test_reserved_words_only_trigger_as_the_whole_message() -> None:
    assert classify("STOP by later").kind is MessageKind.UNKNOWN
    assert classify("help my power is out").kind is MessageKind.UNKNOWN
    assert classify("yes it is out").kind is MessageKind.UNKNOWN


@pytest.mark.parametrize(
    ("body", "keyword", "remarks"),
    [
        ("OUT", "OUT", ""),
        ("out", "OUT", ""),
        ("OUTAGE", "OUTAGE", ""),
        ("#OUT", "#OUT", ""),
        ("OUT tree on line", "OUT", "tree on line"),
        ("Out - pole damage", "OUT", "pole damage"),
        ("OUTAGE:  wire   down\non Elm", "OUTAGE", "wire down on Elm"),
        ("OUT sin luz 🙁", "OUT", "sin luz 🙁"),
    ],
)
def test_outage_keyword_and_remarks(body: str, keyword: str, remarks: str) -> None:
    result = classify(body)
    assert result.kind is MessageKind.OUTAGE
    assert result.keyword == keyword
    assert result.remarks == remarks


def test_words_that_merely_start_like_a_keyword_are_not_outages() -> None:
    assert classify("OUTSIDE light broken").kind is MessageKind.UNKNOWN
    assert classify("OUT123").kind is MessageKind.UNKNOWN


def test_status_keywords() -> None:
    assert classify("status").kind is MessageKind.STATUS
    assert classify("STAT 12 Main St").remarks == "12 Main St"


def test_configured_outage_keywords_replace_the_defaults() -> None:
    custom = Classifier(["apagon", "OUT"])
    assert custom.classify("APAGON calle 5").kind is MessageKind.OUTAGE
    assert custom.classify("#OUT").kind is MessageKind.UNKNOWN


def test_no_outage_keywords_is_refused() -> None:
    with pytest.raises(ValueError, match="outage keyword"):
        Classifier([" ", ""])


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "Unsubscribe me",
        "remove me from this list",
        "no more texts please",
        "don't text me again",
        "no me envíe mensajes",
    ],
)
def test_revocation_phrases_are_flagged_for_a_person(body: str) -> None:
    result = classify(body)
    assert result.kind is MessageKind.UNKNOWN
    assert result.revocation_suspected


def test_ordinary_unknown_text_is_not_flagged() -> None:
    result = classify("when will the lights be back?")
    assert result.kind is MessageKind.UNKNOWN
    assert not result.revocation_suspected


def test_empty_and_whitespace_bodies_are_unknown() -> None:
    assert classify("").kind is MessageKind.UNKNOWN
    assert classify("   \n ").kind is MessageKind.UNKNOWN
