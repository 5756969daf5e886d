"""The SES message tags that name a notice's keys (domain.ses_tags): what SES accepts as a tag, and read back exactly.

SES allows a tag value of at most 256 characters, each an ASCII letter, a digit, ``_`` or ``-`` (Amazon SES API v2,
MessageTag). EmailFeedbackFunction trusts only what decodes exactly; anything else names no notice.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from overage.domain.ses_tags import ACCOUNT_TAG, NOTICE_TAG, notice_keys, notice_tags

SES_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ACCOUNT_IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}\Z")  # the webhook's ACCOUNT_ID_PATTERN
NOTICE_IDS = st.text(min_size=1, max_size=500)


def as_published(tags: list[dict[str, str]]) -> dict[str, list[str]]:
    """How SES's event record carries the tags of the message: ``mail.tags``, each name with a list of values."""
    return {tag["Name"]: [tag["Value"]] for tag in tags}


@given(ACCOUNT_IDS, NOTICE_IDS)
def test_every_tag_is_one_ses_accepts_and_reads_back_as_the_same_keys(account_id: str, notice_id: str) -> None:
    tags = notice_tags(account_id, notice_id)
    assert all(SES_TAG_VALUE.match(tag["Value"]) for tag in tags)
    assert all(re.match(r"^[A-Za-z0-9_-]{1,256}$", tag["Name"]) for tag in tags)
    published = as_published(tags) | {"ses:configuration-set": ["overage-notices"], "notice_kind": ["x"]}
    assert notice_keys(published) == (account_id, notice_id)


def test_a_known_notice_is_tagged_as_worked_out_by_hand() -> None:
    # base64url("acc_1") = "YWNjXzE=", base64url("ntc_x") = "bnRjX3g=", without the padding
    assert notice_tags("acc_1", "ntc_x") == [
        {"Name": ACCOUNT_TAG, "Value": "YWNjXzE"},
        {"Name": NOTICE_TAG, "Value": "bnRjX3g"},
    ]


def test_a_long_notice_id_is_split_over_numbered_tags_of_256() -> None:
    notice_id = "ntc_invoice.issued_" + "a" * 250  # 269 bytes: 359 characters of base64
    tags = notice_tags("acc_1", notice_id)
    assert [t["Name"] for t in tags] == [ACCOUNT_TAG, NOTICE_TAG, f"{NOTICE_TAG}_2"]
    assert [len(t["Value"]) for t in tags[1:]] == [256, 103]
    assert notice_keys(as_published(tags)) == ("acc_1", notice_id)


def test_an_id_too_long_for_four_tags_is_refused_rather_than_cut() -> None:
    with pytest.raises(ValueError, match="too long"):
        notice_tags("acc_1", "n" * 800)


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"ses:configuration-set": ["overage-notices"]},
        {ACCOUNT_TAG: ["YWNjXzE"]},  # no notice
        {NOTICE_TAG: ["bnRjX3g"]},  # no account
        {ACCOUNT_TAG: ["YWNjXzE"], NOTICE_TAG: ["bnRj X3g"]},  # not the alphabet
        {ACCOUNT_TAG: ["YWNjXzE"], NOTICE_TAG: ["bnRjX"]},  # a length base64 never has
        {ACCOUNT_TAG: ["YWNjXzE"], NOTICE_TAG: ["_w"]},  # not UTF-8 (0xff)
        {ACCOUNT_TAG: ["YWNjXzE", "YWNjXzI"], NOTICE_TAG: ["bnRjX3g"]},  # two values
        {ACCOUNT_TAG: "YWNjXzE", NOTICE_TAG: ["bnRjX3g"]},  # not a list
        {ACCOUNT_TAG: ["YWNjXzE"], NOTICE_TAG: ["bnRjX3g"], f"{NOTICE_TAG}_2": ["eA"]},  # a short first part
    ],
    ids=[
        "none",
        "only SES's own",
        "no notice",
        "no account",
        "outside the alphabet",
        "an impossible length",
        "not UTF-8",
        "two values",
        "not a list",
        "a first part shorter than 256",
    ],
)
def test_tags_that_do_not_decode_exactly_name_no_notice(tags: dict[str, object]) -> None:
    assert notice_keys(tags) is None  # type: ignore[arg-type]
