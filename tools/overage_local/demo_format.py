"""Shared formatting for the demo's printout (invoices and notices as a billing engineer reads them)."""

from __future__ import annotations

import textwrap
from typing import Any


def invoice_lines(invoice: dict[str, Any]) -> list[str]:
    cur = invoice["currency"]
    out = [
        f"  {invoice['number']}  {invoice['kind']:<16} {invoice['period_start']} → {invoice['period_end']}  "
        f"status {invoice['status']}, due {invoice['due_on']}"
    ]
    for line in invoice["lines"]:
        wrapped = textwrap.wrap(line["description"], 78) or [""]
        out += [f"      {part}" for part in wrapped[:-1]]
        out.append(f"      {wrapped[-1]:<78} {line['amount']:>9} {cur}")
    out.append(f"      {'net / VAT / gross':<78} {invoice['net']:>9} / {invoice['vat']} / {invoice['gross']} {cur}")
    for flag in invoice.get("flags", []):
        out.append(f"      flag: {flag}")
    return out


def notice_lines(notice: dict[str, Any]) -> list[str]:
    return [f"  notice {notice['kind']:<24} {notice.get('status', ''):<8} {notice['subject']}"]
