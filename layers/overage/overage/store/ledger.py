"""The ledger table: invoices, notices, plan changes and episodes, each under its account.

Keys: ``pk`` = account id; ``sk`` = ``INVOICE#<invoice id>``, ``NOTICE#<notice id>``, ... Money is stored as strings
("10.00") so amounts come back exactly as issued. Records are written with conditions, never overwritten blindly.

A notice record is kept small (every renewal writes one in a transaction, 2 WRU per KB): it holds what the report
reads (``kind``, ``created_at``, ``detail`` as compact JSON) and, in one compressed attribute ``message``, what the
email is rendered from, never the rendered text and HTML. Its id and account come from its keys. The message is
compressed with a preset dictionary of the notices' own sentences (the phrase book, ``notice_phrases_v<N>.txt``,
written by ``tools/notice_phrases.py``): a renewal notice's message is about 260 bytes instead of 410, so a notice
marked sent stays under 1 KB, one write unit (issue 20). zlib records which dictionary a message needs (its DICTID,
the dictionary's Adler-32), and every phrase book ever shipped stays here to read it; a message compressed without
one reads as well.
"""

from __future__ import annotations

import json
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from overage.domain.account import billing_shard
from overage.domain.invoice import Invoice
from overage.domain.notice import Notice, notice_id
from overage.domain.settlement import first_dunning_key
from overage.store.dynamo import from_item, query_all, store_error, to_item
from overage.store.report_index import REPORT_KEY, report_key_at

INVOICE = "INVOICE#"
NOTICE = "NOTICE#"
MESSAGE = "message"  # zlib of the JSON list [to, subject, paragraphs, breakdown, actions]
# What GET /accounts/{id}/notices lists of a notice, then its delivery state (status, claimed_at, sent_at...).
NOTICE_FIELDS = ("notice_id", "account_id", "kind", "to", "subject", "text", "html", "detail", "created_at")
NOT_LISTED = ("pk", "sk", "outbox_state", REPORT_KEY, MESSAGE)
# A notice's delivery state (sending, sent) is stored as ``delivery``, listed as ``status``: ReportIndex projects
# ``status`` (for the records whose status the report reads), so marking a notice sent would write the index too.
DELIVERY = "delivery"


PHRASE_BOOKS = ("notice_phrases_v1.txt",)  # every version ever shipped, the newest last: never edit or remove one
_FDICT = 0x20  # zlib header: the FLG byte's preset-dictionary bit; the DICTID (4 bytes) follows the header


@cache
def _phrase_books() -> dict[int, bytes]:
    """Each phrase book by its Adler-32 (zlib's DICTID). Read once per container, on the first notice."""
    books = [(Path(__file__).parent / name).read_bytes() for name in PHRASE_BOOKS]
    return {zlib.adler32(book): book for book in books}


def compress_message(message: list[Any]) -> bytes:
    """The notice's parts as stored: compact JSON, compressed with the newest phrase book."""
    newest = list(_phrase_books().values())[-1]
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, newest)
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    return packer.compress(data) + packer.flush()


def decompress_message(stored: Any) -> Any:
    """The notice's parts from ``compress_message`` (or a message compressed with no dictionary); ``stored`` as
    ``from_item`` gives it (bytes, or boto3's ``Binary``)."""
    blob = stored if isinstance(stored, bytes) else bytes(stored.value)
    if len(blob) >= 6 and blob[1] & _FDICT:
        dict_id = int.from_bytes(blob[2:6], "big")
        book = _phrase_books().get(dict_id)
        if book is None:
            raise ValueError(f"a notice message needs phrase book {dict_id:#010x}, which this code does not ship")
        unpacker = zlib.decompressobj(zlib.MAX_WBITS, zdict=book)
        return json.loads(unpacker.decompress(blob) + unpacker.flush())
    return json.loads(zlib.decompress(blob))


def invoice_record(invoice: Invoice) -> dict[str, Any]:
    body = invoice.model_dump(mode="json")
    keys = {"pk": invoice.account_id, "sk": INVOICE + invoice.invoice_id, "record_type": "invoice"}
    # The monthly report finds the invoices of its month through ReportIndex (the month it was issued).
    keys[REPORT_KEY] = report_key_at(invoice.issued_at, invoice.account_id)
    dunning = first_dunning_key(invoice)
    if dunning is not None:  # the sparse DunningIndex: what GraceExpiryFunction chases (spec §3.7)
        keys |= {"dunning_shard": billing_shard(invoice.account_id), "dunning_at": dunning}
    return keys | body


def invoice_from_record(record: dict[str, Any]) -> Invoice:
    fields = {k: v for k, v in record.items() if k in Invoice.model_fields}
    return Invoice.model_validate(fields)


def notice_record(notice: Notice) -> dict[str, Any]:
    """The notice's own attributes as stored (the outbox adds its delivery state and the report key)."""
    message = [notice.to, notice.subject, notice.paragraphs, notice.breakdown, notice.actions]
    return {
        "pk": notice.account_id,
        "sk": NOTICE + notice.notice_id,
        "record_type": "notice",
        "kind": notice.kind,
        "created_at": notice.created_at,
        "detail": json.dumps(notice.detail, sort_keys=True, separators=(",", ":"), default=str),
        MESSAGE: compress_message(message),
    }


def notice_from_record(record: dict[str, Any]) -> Notice:
    """The notice a stored record was written from (``notice_record``): the same parts, so the same email."""
    account_id, kind = str(record["pk"]), str(record["kind"])
    prefix = NOTICE + notice_id(kind, account_id, "")
    sk = str(record["sk"])
    if not sk.startswith(prefix):
        raise ValueError(f"notice record {sk!r} is not a {kind} notice of {account_id}")
    blob = record[MESSAGE]
    to, subject, paragraphs, breakdown, actions = decompress_message(blob)
    detail = record.get("detail")
    return Notice(
        account_id=account_id,
        kind=kind,
        cause=sk.removeprefix(prefix),
        to=to,
        subject=subject,
        paragraphs=paragraphs,
        breakdown=breakdown,
        actions=actions,
        detail=json.loads(detail) if isinstance(detail, str) else detail,
        created_at=record["created_at"],
    )


def notice_listed(record: dict[str, Any]) -> dict[str, Any]:
    """A notice as the API lists it: rendered (text and HTML, as emailed) with its delivery state."""
    notice = notice_from_record(record)
    state = {k: v for k, v in record.items() if k not in NOT_LISTED and k not in NOTICE_FIELDS and k != DELIVERY}
    return {name: getattr(notice, name) for name in NOTICE_FIELDS} | state | {"status": record.get(DELIVERY)}


class LedgerStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client

    def put_invoice_item(self, invoice: Invoice) -> dict[str, Any]:
        """A TransactWriteItems entry that creates the invoice, or cancels if that id was ever issued."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(invoice_record(invoice)),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        record = self.get_invoice_record(account_id, invoice_id)
        return invoice_from_record(record) if record else None

    def get_invoice_record(self, account_id: str, invoice_id: str) -> dict[str, Any] | None:
        """The invoice's record as stored: the invoice and what happened to it since (paid_amount, paid_at...)."""
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": account_id}, "sk": {"S": INVOICE + invoice_id}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise store_error(error, "reading an invoice") from error
        item = response.get("Item")
        return from_item(item) if item else None

    def _records(self, account_id: str, prefix: str) -> list[dict[str, Any]]:
        try:
            return list(
                query_all(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": {"S": account_id}, ":prefix": {"S": prefix}},
                )
            )
        except ClientError as error:
            raise store_error(error, "listing ledger records") from error

    def invoices(self, account_id: str) -> list[Invoice]:
        invoices = [invoice_from_record(r) for r in self._records(account_id, INVOICE)]
        return sorted(invoices, key=lambda inv: (inv.issued_at, inv.invoice_id))

    def notices(self, account_id: str) -> list[dict[str, Any]]:
        """Every notice of the account, rendered as it was emailed, oldest first."""
        notices = [notice_listed(record) for record in self._records(account_id, NOTICE)]
        return sorted(notices, key=lambda n: (n["created_at"], n["notice_id"]))
