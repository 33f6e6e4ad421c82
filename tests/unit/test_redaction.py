"""Secrets kept out of messages: every address's password masked, and a URL published with no credentials at all."""

from __future__ import annotations

import pytest

from a2a_fast.redaction import redact, without_credentials


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:secret@registry:8081/apis", "http://user:***@registry:8081/apis"),
        ("http://user:s%40cret@registry:8081", "http://user:***@registry:8081"),
        ("http://user:p@ss,word@registry", "http://user:***@registry"),
        ("http://token@registry", "http://***@registry"),
        ("SASL_SSL://a:x@b1:9092,SASL_SSL://c:y@b2:9092", "SASL_SSL://a:***@b1:9092,SASL_SSL://c:***@b2:9092"),
        (
            "cannot reach http://u:pw@h:1 (SCHEMA_REGISTRY_URL): refused",
            "cannot reach http://u:***@h:1 (SCHEMA_REGISTRY_URL): refused",
        ),
        ("http://registry:8081/a@b", "http://registry:8081/a@b"),
        ("http://registry/x?who=a:b@c", "http://registry/x?who=a:b@c"),
        ("127.0.0.1:9092", "127.0.0.1:9092"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
    ],
)
def test_redact_masks_the_password_of_every_address(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_published_url_has_no_credentials_at_all() -> None:
    assert without_credentials("https://user:secret@registry:8081/apis") == "https://registry:8081/apis"
    assert without_credentials("http://registry:8081") == "http://registry:8081"
