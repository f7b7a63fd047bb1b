import pytest

from gateway.auth.contacts import InvalidContact, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("a@example.com", "a@example.com"),
        ("first.last+tag@Sub.Example.ORG", "first.last+tag@sub.example.org"),
        ("o'brien@xn--bcher-kva.example", "o'brien@xn--bcher-kva.example"),
    ],
)
def test_good_addresses(typed, stored):
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "@example.com",
        "a@",
        "a@example",
        "a@@example.com",
        "a@example..com",
        ".a@example.com",
        "a.@example.com",
        "a b@example.com",
        "a@-example.com",
        "a@example-.com",
        "a@1.2.3.4",
        "a@example.com\n",
        "a\x00@example.com",
        "é@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 64 + ".com",
        "a@" + "b." * 130 + "com",
    ],
)
def test_bad_addresses(typed):
    with pytest.raises(InvalidContact):
        normalize_email(typed)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+15550100", "+15550100"),
        ("+1 (555) 010-0123", "+15550100123"),
        ("+44.20.7946.0958", "+442079460958"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_good_numbers(typed, stored):
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "+",
        "5550100123",
        "+0555010012",
        "+1234567",
        "+1234567890123456",
        "+1-555-CALL",
        "+1\n5550100",
        "+\uff11\uff15\uff15\uff15\uff10\uff11\uff10\uff10\uff11\uff12\uff13",
        "+1" + " " * 40 + "5550100",
    ],
)
def test_bad_numbers(typed):
    with pytest.raises(InvalidContact):
        normalize_phone(typed)
