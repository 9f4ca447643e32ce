"""batch_ims.redaction: a secret is cut in every form and any 8 characters of it in a row."""

from __future__ import annotations

import json

import pytest

from batch_ims import redaction

SECRET = 'Ü "quoted"  spaced-密码-redaction-3c9e'
SHORT = "k7Q!"
KEY = "Wq9rT2mX8vLp4sNc6bHf1dJg7kZy3aEu5oIi0RtY"  # 40 characters: any 8 in a row are cut


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests' secrets, in a registry of their own (other tests' text stays as it is)."""
    for name in ("_whole", "_parts", "_heads", "_starts", "_quarters", "_secrets"):
        monkeypatch.setattr(redaction, name, type(getattr(redaction, name))())
    for secret in (SECRET, SHORT, KEY):
        redaction.register(secret)


def test_every_echoed_form_of_a_secret_is_cut() -> None:
    echoes = [
        SECRET,
        json.dumps(SECRET)[1:-1],  # \u00dc, \"
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(SECRET)[1:-1])[1:-1],
        " ".join(SECRET.split()),
    ]

    assert [redaction.redact_text(f"<{echo}>") for echo in echoes] == ["<***>"] * len(echoes)


def test_the_first_eight_characters_of_a_secret_are_cut_and_seven_are_kept() -> None:
    assert redaction.redact_text("was: " + SECRET[:8] + "...") == "was: ***..."
    assert redaction.redact_text("was: " + SECRET[:7] + "...") == "was: " + SECRET[:7] + "..."


def test_of_a_long_secret_any_eight_characters_in_a_row_are_cut() -> None:
    assert redaction.redact_text("x" + KEY[12:20] + "y" + KEY[30:] + "z") == "x***y***z"
    assert redaction.redact_text("x" + KEY[12:19] + "y") == "x" + KEY[12:19] + "y"


def test_the_middle_of_a_short_secret_is_kept_so_words_in_log_lines_survive() -> None:
    redaction.register("e2e-password-LEAKCHECK-d8e0b3")

    assert redaction.redact_text("mode iam-password") == "mode iam-password"


def test_the_escaped_forms_of_a_password_keep_its_words_too() -> None:
    assert redaction.redact_text('镜像 "quoted"  spaced') == '镜像 "quoted"  spaced'


def test_a_short_secret_is_cut_only_whole() -> None:
    assert redaction.redact_text(f"a {SHORT} b k7Q") == "a *** b k7Q"


def test_clip_redacts_the_whole_text_before_cutting_it() -> None:
    text = "token: " + SECRET + " and more"

    assert redaction.clip(text, 13) == "token: ***..."
    assert redaction.clip("镜像名称 unchanged", 100) == "镜像名称 unchanged"
