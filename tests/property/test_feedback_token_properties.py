"""The feedback token (spec §3.9) is the only credential of the public GET /feedback/{token}: no token but a genuine
one is ever accepted. Random bytes and text, every truncation, every single-character alteration, the other
answer, another notice's MAC and another key are all refused; a genuine token says exactly what was signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from overage.domain import feedback
from overage.domain.feedback import CLEAR, HELP, FeedbackToken

SHORT = settings(max_examples=200, deadline=None)
SECRET = "a-feedback-key"
ALPHABET = string.ascii_letters + string.digits + "-_"

accounts = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}\Z")
notice_ids = st.text(min_size=1, max_size=80).map(lambda s: "ntc_" + s)
answers = st.sampled_from([CLEAR, HELP])


def by_hand(secret: str, account_id: str, notice_id: str, answer: str) -> str:
    """The documented form, computed here without the code: b64url(HMAC-SHA256(secret, text) ‖ text), no padding."""
    text = f"{answer}\n{account_id}\n{notice_id}".encode()
    mac = hmac.new(secret.encode(), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac + text).rstrip(b"=").decode()


@SHORT
@given(accounts, notice_ids, answers)
def test_a_genuine_token_is_the_documented_form_and_says_what_it_signs(account: str, notice: str, answer: str) -> None:
    token = feedback.sign(SECRET, account, notice, answer)
    assert token == by_hand(SECRET, account, notice, answer)
    assert feedback.verify(SECRET, token) == FeedbackToken(account_id=account, notice_id=notice, answer=answer)


@settings(max_examples=50, deadline=None)  # each example tries every position with every character
@given(accounts, notice_ids, answers)
def test_every_truncation_and_every_single_character_alteration_is_refused(
    account: str, notice: str, answer: str
) -> None:
    token = feedback.sign(SECRET, account, notice, answer)
    for end in range(len(token)):
        assert feedback.verify(SECRET, token[:end]) is None, end
    for i, original in enumerate(token):
        for replacement in ALPHABET + "=.+/ %":
            if replacement != original:
                assert feedback.verify(SECRET, token[:i] + replacement + token[i + 1 :]) is None, (i, replacement)
    assert feedback.verify(SECRET, token + "A") is None
    assert feedback.verify(SECRET, token + "=") is None


@SHORT
@given(accounts, notice_ids, notice_ids, answers)
def test_the_other_answer_another_notices_mac_or_another_key_is_refused(
    account: str, notice: str, other: str, answer: str
) -> None:
    raw = base64.urlsafe_b64decode(feedback.sign(SECRET, account, notice, answer) + "==")
    mac, text = raw[:32], raw[32:]
    swapped = text.replace(answer.encode(), (HELP if answer == CLEAR else CLEAR).encode(), 1)
    assert feedback.verify(SECRET, base64.urlsafe_b64encode(mac + swapped).rstrip(b"=").decode()) is None
    if other != notice:
        other_mac = base64.urlsafe_b64decode(feedback.sign(SECRET, account, other, answer) + "==")[:32]
        assert feedback.verify(SECRET, base64.urlsafe_b64encode(other_mac + text).rstrip(b"=").decode()) is None
    assert feedback.verify("another-key", feedback.sign(SECRET, account, notice, answer)) is None


@SHORT
@given(st.binary(max_size=400))
def test_random_bytes_are_refused(raw: bytes) -> None:
    assert feedback.verify(SECRET, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()) is None


@SHORT
@given(st.text(max_size=300))
def test_random_text_is_refused(token: str) -> None:
    assert feedback.verify(SECRET, token) is None


def test_an_empty_key_signs_and_accepts_nothing() -> None:
    with pytest.raises(ValueError, match="empty"):
        feedback.sign("", "acc_1", "ntc_x", CLEAR)
    assert feedback.verify("", by_hand("", "acc_1", "ntc_x", CLEAR)) is None


def test_links_put_each_answers_token_under_the_base_url() -> None:
    links = feedback.links("https://api.example/v1/", SECRET, "acc_1", "ntc_invoice.issued_acc_1_inv_1")
    assert links.clear_url == "https://api.example/v1/feedback/" + by_hand(
        SECRET, "acc_1", "ntc_invoice.issued_acc_1_inv_1", CLEAR
    )
    assert links.help_url == "https://api.example/v1/feedback/" + by_hand(
        SECRET, "acc_1", "ntc_invoice.issued_acc_1_inv_1", HELP
    )
