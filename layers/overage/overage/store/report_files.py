"""The report bucket (S3): the monthly report's files under ``reports/<YYYY-MM>/`` and a run's parts under ``work/``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from overage.errors import StoreError

CONTENT_TYPES = {
    "summary.json": "application/json; charset=utf-8",
    "excess_profiles.csv": "text/csv; charset=utf-8",
    "contact_overruns.csv": "text/csv; charset=utf-8",
    "fair_use.csv": "text/csv; charset=utf-8",
    "communication.csv": "text/csv; charset=utf-8",
    "settlement.csv": "text/csv; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}


class ReportFiles:
    def __init__(self, s3: Any, bucket: str) -> None:
        if not bucket:
            raise StoreError("no report bucket configured (REPORT_BUCKET)")
        self.s3 = s3
        self.bucket = bucket

    def keys(self, prefix: str, *, start_after: str = "", stop_after: str = "") -> list[str]:
        """The keys under ``prefix`` in key order, after ``start_after`` and up to ``stop_after``."""
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            while True:
                page = self.s3.list_objects_v2(**kwargs)
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    if stop_after and key > stop_after:
                        return keys
                    keys.append(key)
                if not page.get("IsTruncated"):
                    return keys
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        except ClientError as error:
            raise StoreError(f"listing {prefix} in the report bucket failed: {error}") from error

    def get(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StoreError(f"reading {key} from the report bucket failed: {error}") from error

    def put(self, key: str, body: bytes, name: str) -> None:
        content_type = CONTENT_TYPES.get(name, "application/json; charset=utf-8")
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as error:
            raise StoreError(f"writing {key} to the report bucket failed: {error}") from error
