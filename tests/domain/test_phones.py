import pytest

from outagedesk.domain.phones import InvalidPhoneError, format_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw", ["+15055550123", "5055550123", "(505) 555-0123", " 505.555.0123 ", "15055550123"]
)
def test_north_american_forms_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+15055550123"


@pytest.mark.parametrize("raw", ["", "not-a-phone", "12345", "+1505555012", "555", "x" * 100])
def test_non_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneError):
        normalize_phone(raw)


def test_region_setting_changes_how_national_numbers_read() -> None:
    assert normalize_phone("020 7946 0018", region="GB") == "+442079460018"
    with pytest.raises(InvalidPhoneError):
        normalize_phone("020 7946 0018", region="US")


def test_formatting_for_people() -> None:
    assert format_phone("+15055550123") == "(505) 555-0123"
    assert format_phone("+442079460018") == "+44 20 7946 0018"
    assert format_phone("garbage") == "garbage"


def test_masking_keeps_only_the_last_four_digits() -> None:
    assert mask_phone("+15055550123") == "+1••••••0123"
    assert "5055" not in mask_phone("+15055550123")
    assert mask_phone("123") == "•••"
