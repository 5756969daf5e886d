"""The monthly policy report (spec §3.6): read a month's records shard by shard, merge them, write the report.

``month_of(event)`` is the month a run reports on: ``{"month": "YYYY-MM"}`` (a re-run or backfill of that month),
or the calendar month before the run's business time (the schedule's ``time``, or ``{"as_of": ...}``).

``UsageReport.dispatch`` (the schedule) sends one message per shard of ``ReportIndex`` to the report queue, all
under one run id. ``UsageReport.process`` (per message) queries its shard's records of the month (one Query,
paginated; never a Scan), reads the episodes their markers name and the delivery state and answer of its notices
(BatchGetItem), reduces them to the facts the report needs (``overage.domain.report.shard_facts``) and stores that
part as ``work/<month>/<run>/<shard>.json``. The part that completes the run (every shard's part is there) merges
them and writes ``reports/<YYYY-MM>/``: summary.json, excess_profiles.csv, contact_overruns.csv, fair_use.csv,
communication.csv and index.html, whose charts read the previous months' summary.json. Two parts finishing at once
both write the same bytes; a re-run writes the same bytes again unless
something dated in that month was recorded since.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from overage.domain.instants import FIRST_YEAR, LAST_YEAR, Month, in_supported_years
from overage.domain.report import (
    HISTORY_MONTHS,
    MonthFacts,
    csv_files,
    history_months,
    report_month,
    shard_facts,
    summary,
    usable_summary,
)
from overage.errors import InvalidRequest, StoreError
from overage.render.report_html import render_index
from overage.runtime import aws
from overage.runtime.business_time import business_time, wall_clock
from overage.runtime.config import Settings
from overage.runtime.fanout import batches, send_batch
from overage.runtime.observability import count, logger
from overage.runtime.sqs_batch import SqsRecord
from overage.store.report_files import CONTENT_TYPES, ReportFiles
from overage.store.report_index import ReportRecords, report_shards

REPORTS = "reports/"
WORK = "work/"


def month_of(event: Any, now: datetime | None = None) -> Month:
    """The month a run reports on (see the module doc). A ``month`` must lie in the supported years and have ended
    by the run's business time when the event gives one, and by the wall clock in any case (a report of a month that
    has not ended would be written with the part of it that has happened)."""
    now = wall_clock() if now is None else now
    if isinstance(event, dict) and "month" in event:
        try:
            month = Month.parse(str(event["month"]))
        except ValueError:
            raise InvalidRequest("not a month", {"month": "a calendar month as YYYY-MM, e.g. 2026-02"}) from None
        if not in_supported_years(month.first_day):
            raise InvalidRequest(
                f"{month} is outside the supported years", {"month": f"a month of the years {FIRST_YEAR}-{LAST_YEAR}"}
            )
        if "as_of" in event or "time" in event:
            latest = report_month(business_time(event, now))
            if month > latest:
                raise InvalidRequest(
                    f"{month} has not ended by the run's time", {"month": f"at most {latest} for this run's time"}
                )
        latest = report_month(now)
        if month > latest:
            raise InvalidRequest(f"{month} has not ended yet", {"month": f"at most {latest}, the last ended month"})
        return month
    return report_month(business_time(event, now))


def report_key(month: Month, name: str) -> str:
    return f"{REPORTS}{month}/{name}"


def part_key(month: Month, run: str, shard: str) -> str:
    return f"{WORK}{month}/{run}/{shard}.json"


@dataclass(frozen=True)
class ShardMessage:
    month: Month
    shard: str
    run: str

    def to_json(self) -> str:
        return json.dumps({"month": str(self.month), "shard": self.shard, "run": self.run}, sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> ShardMessage:
        data = json.loads(body)
        return cls(Month.parse(str(data["month"])), str(data["shard"]), str(data["run"]))


class UsageReport:
    def __init__(self, *, records: ReportRecords, files: ReportFiles) -> None:
        self.records = records
        self.files_store = files

    # ------------------------------------------------------------------ the schedule
    def dispatch(self, sqs: Any, queue_url: str, month: Month, run: str | None = None) -> dict[str, Any]:
        """One message per shard of the report index, ten per SendMessageBatch."""
        run = run or uuid.uuid4().hex[:16]
        messages = [ShardMessage(month, shard, run) for shard in report_shards()]
        for batch in batches(messages):  # the schedule retries the whole run; a run only rewrites the same report
            send_batch(sqs, queue_url, [message.to_json() for message in batch], "report")
        logger.info("report run dispatched", extra={"month": str(month), "run": run, "shards": len(messages)})
        return {"month": str(month), "run": run, "shards_dispatched": len(messages)}

    # ------------------------------------------------------------------ one queue message
    def process(self, message: ShardMessage) -> bool:
        """Read one shard and store its part; True when this part completed the run and the report was written."""
        facts = self.shard(message.month, message.shard)
        self.files_store.put(
            part_key(message.month, message.run, message.shard), facts.model_dump_json().encode(), "json"
        )
        return self.finish(message.month, message.run)

    def shard(self, month: Month, shard: str) -> MonthFacts:
        records = list(self.records.records(month, shard))
        wanted = [
            (str(r["account_id"]), str(r["episode_id"])) for r in records if r.get("record_type") == "report_marker"
        ]
        episodes = self.records.episodes(wanted) if wanted else {}
        missing = sorted(set(wanted) - set(episodes))
        if missing:  # written in the same transaction as their marker: a missing one is an inconsistent read
            raise StoreError(f"episode records {missing[:3]} of month {month} were not found; retry the shard")
        notices = [(str(r["pk"]), str(r["sk"])) for r in records if r.get("record_type") == "notice"]
        states = self.records.notice_states(notices) if notices else {}
        facts = shard_facts(month, shard, records, episodes, states)
        logger.info(
            "report shard read",
            extra={"month": str(month), "shard": shard, "records": len(records), "episodes": len(episodes)},
        )
        return facts

    def finish(self, month: Month, run: str) -> bool:
        """Merge and write the report if every shard's part of ``run`` is stored (else another part will)."""
        prefix = f"{WORK}{month}/{run}/"
        keys = sorted(self.files_store.keys(prefix))
        if len(keys) < len(report_shards()):
            return False
        parts = [MonthFacts.model_validate_json(self.files_store.get(key) or b"{}") for key in keys]
        self.write(month, MonthFacts.merge(month, parts))
        return True

    # ------------------------------------------------------------------ the report
    def files(self, facts: MonthFacts) -> dict[str, bytes]:
        """The report's files of ``facts`` (its month), with the charts of the months before it."""
        month = Month.parse(facts.month)
        figures = summary(facts)
        previous = self.previous_summaries(month)
        history = [(m, previous.get(m)) for m in history_months(month)[:-1]] + [(month, figures)]
        files = {"summary.json": json.dumps(figures, indent=2, ensure_ascii=False) + "\n"}
        files |= csv_files(facts)
        files["index.html"] = render_index(figures, facts, history)
        return {name: text.encode("utf-8") for name, text in files.items()}

    def write(self, month: Month, facts: MonthFacts) -> list[str]:
        written = []
        files = self.files(facts)
        for name in CONTENT_TYPES:  # index.html last: once it is there, everything it links to is too
            key = report_key(month, name)
            self.files_store.put(key, files[name], name)
            written.append(key)
        logger.info("monthly report written", extra={"month": str(month), "files": len(written)})
        return written

    def previous_summaries(self, month: Month) -> dict[Month, dict[str, Any]]:
        """The summary.json of each of the months before ``month`` that the charts show, when it exists."""
        months = history_months(month, HISTORY_MONTHS)[:-1]
        wanted = {report_key(m, "summary.json"): m for m in months}
        found: dict[Month, dict[str, Any]] = {}
        for key in self.files_store.keys(REPORTS, start_after=f"{REPORTS}{months[0]}", stop_after=f"{REPORTS}{month}"):
            if key not in wanted:
                continue
            body = self.files_store.get(key)
            try:
                document = json.loads(body) if body else None
            except ValueError:
                document = None
            usable = usable_summary(document, wanted[key])
            if usable is None:
                logger.warning("previous summary not usable", extra={"key": key})
                continue
            found[wanted[key]] = usable
        return found


def service(settings: Settings, bucket: str) -> UsageReport:
    return UsageReport(
        records=ReportRecords(settings.ledger_table, aws.client("dynamodb")),
        files=ReportFiles(aws.client("s3"), bucket),
    )


class ReportJob:
    """UsageReportFunction's two entry points: the schedule's run (one message per shard) and one shard's record."""

    def __init__(self, *, report: UsageReport, sqs: Any, queue_url: str) -> None:
        self.report = report
        self.sqs = sqs
        self.queue_url = queue_url

    def start_run(self, event: Any, now: datetime) -> dict[str, Any]:
        return self.report.dispatch(self.sqs, self.queue_url, month_of(event, now))

    def handle_record(self, record: SqsRecord) -> None:
        message = ShardMessage.from_json(record["body"])
        logger.thread_safe_append_keys(month=str(message.month), shard=message.shard, run=message.run)
        if self.report.process(message):
            count("ReportsWritten")
