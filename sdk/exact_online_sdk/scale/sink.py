"""Land synced rows in S3 where a data team can load them at once: gzip JSON lines, a manifest per run.

Layout (Hive-style partitions, so Athena/Glue/Spark see ``connection``, ``division``, ``endpoint`` and ``run`` as
columns)::

    s3://<bucket>/<prefix>/connection=<name>/division=<n>/endpoint=<sync.CRM.Accounts>/run=<run id>/
        changes/part-00001.jsonl.gz       one part per batch (a page of up to 1000 rows), rows as Exact sent them
        deletions/part-00001.jsonl.gz     rows of sync/Deleted that belong to this endpoint (EntityKey, Timestamp...)
        _manifest.json                    written last: the run is complete; lists every part

A run id sorts by time (``20260101T000000.000Z-1a2b3c4d``). Numbers keep their exact decimal text (money is never
routed through a float); dates stay as Exact writes them (``/Date(1767225600000)/``).

**What is complete.** Load a run only when its ``_manifest.json`` exists, and exactly the parts it lists. A worker
that crashes mid-run leaves parts without a manifest; the next worker to take the unit's lease writes the missing
manifest (``"status": "recovered"``) listing what the crashed run landed, then continues from the last saved cursor.
Delivery is at-least-once: the batch landed but not yet acknowledged when the crash came is landed again by the next
run, so deduplicate on the entity key (``ID``, or ``EntityKey`` for deletions) keeping the highest ``Timestamp``.

Manifests are written with ``If-None-Match: *``: a manifest, once there, is never replaced.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..edm import parse_int64
from ..exceptions import ExactOnlineError
from ..sync import SyncBatch
from ._aws import error_code, is_aws_failure, make_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["MANIFEST", "LandingError", "LandingRun", "Part", "S3Sink", "dumps_row"]

FORMAT = "exact-online-toolkit/landing/1"
MANIFEST = "_manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class LandingError(ExactOnlineError):
    """A part or manifest could not be written to S3 (the batch is not accepted: its cursor does not move)."""

    hint = "check the bucket name and that the worker's role may s3:PutObject there (see docs/scale.md)"


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "null"  # Exact's exact decimal text
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dumps_row(row: dict[str, Any]) -> str:
    """One row as a JSON line (numbers with their exact decimal text)."""
    return _json(row)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _checked_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{kind} {value!r} must be letters, digits, '_', '.' or '-' (it becomes an S3 path)")
    return value


@dataclass(frozen=True, slots=True)
class Part:
    """One landed part: its key, kind (``changes``/``deletions``), rows, bytes, sha256 and Timestamp range."""

    key: str
    kind: str
    rows: int
    bytes: int
    sha256: str
    timestamp_min: int | None
    timestamp_max: int | None
    cursor: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "timestamp_min": self.timestamp_min,
            "timestamp_max": self.timestamp_max,
            "cursor": self.cursor,
        }


class S3Sink:
    """Where runs land: ``bucket`` under ``prefix``. ``put_options`` go to every PutObject (for example
    ``{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "..."}`` when the bucket's default encryption is not
    enough)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "exact-online",
        client: S3Client | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        put_options: dict[str, Any] | None = None,
        compresslevel: int = 6,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.clock: Clock = clock or SystemClock()
        self.put_options = dict(put_options or {})
        self.compresslevel = compresslevel
        self._client = client or make_s3_client(region_name, endpoint_url=endpoint_url)

    def __repr__(self) -> str:
        return f"S3Sink(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def unit_prefix(self, connection: str, division: int, endpoint: str) -> str:
        """``<prefix>/connection=<c>/division=<d>/endpoint=<e>`` (endpoint slashes become dots)."""
        name = _checked_name("endpoint", endpoint.strip("/").replace("/", "."))
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}connection={_checked_name('connection', connection)}/division={int(division)}/endpoint={name}"

    def run_prefix(self, connection: str, division: int, endpoint: str, run_id: str) -> str:
        return f"{self.unit_prefix(connection, division, endpoint)}/run={_checked_name('run id', run_id)}"

    def new_run_id(self) -> str:
        """A run id that sorts by time."""
        stamp = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
        return f"{stamp}Z-{uuid.uuid4().hex[:8]}"

    def begin(
        self,
        connection: str,
        division: int,
        endpoint: str,
        *,
        run_id: str | None = None,
        cursor_from: dict[str, int | None] | None = None,
    ) -> LandingRun:
        """Start a run; hand its :meth:`LandingRun.write` to the sync engine as the consumer."""
        run_id = run_id or self.new_run_id()
        prefix = self.run_prefix(connection, division, endpoint, run_id)
        return LandingRun(self, connection, int(division), endpoint.strip("/"), run_id, prefix, cursor_from or {})

    # --- reading back -------------------------------------------------------------------------------------------
    def manifest(self, connection: str, division: int, endpoint: str, run_id: str) -> dict[str, Any] | None:
        """A run's manifest, or None while it has none."""
        key = f"{self.run_prefix(connection, division, endpoint, run_id)}/{MANIFEST}"
        # Listed before it is read: a worker whose s3:ListBucket is scoped to the landing prefix (the stack's grant)
        # gets 403, not 404, for a GetObject of a key that is not there.
        try:
            if key not in self._keys(key):
                return None
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(exc, f"read {key}") from exc
        return dict(json.loads(body))

    def manifests(self, connection: str, division: int, endpoint: str) -> list[dict[str, Any]]:
        """Every manifest of a unit, oldest run first: what a downstream load may take."""
        unit = self.unit_prefix(connection, division, endpoint) + "/"
        keys = sorted(k for k in self._keys(unit) if k.endswith(f"/{MANIFEST}"))
        found = []
        for key in keys:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            found.append(dict(json.loads(body)))
        return found

    def read_part(self, key: str) -> list[dict[str, Any]]:
        """The rows of one part (numbers as Decimal), for checks and small loads."""
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        lines = gzip.decompress(body).decode("utf-8").splitlines()
        return [json.loads(line, parse_float=Decimal) for line in lines if line]

    def _keys(self, prefix: str) -> Iterator[str]:
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._client.list_objects_v2(**request)
            for entry in page.get("Contents", []):
                yield entry["Key"]
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    # --- recovering a crashed run -------------------------------------------------------------------------------
    def recover(self, connection: str, division: int, endpoint: str, run_id: str) -> dict[str, Any] | None:
        """Write the manifest a crashed run never wrote (``"status": "recovered"``, listing every part it landed);
        None when the run has its manifest already."""
        if self.manifest(connection, division, endpoint, run_id) is not None:
            return None
        prefix = self.run_prefix(connection, division, endpoint, run_id)
        parts = []
        for key in sorted(self._keys(prefix + "/")):
            if key.endswith(f"/{MANIFEST}"):
                continue
            head = self._client.head_object(Bucket=self.bucket, Key=key)
            meta = head.get("Metadata", {})
            parts.append(
                Part(
                    key=key,
                    kind=meta.get("kind", "changes"),
                    rows=int(meta.get("rows", 0)),
                    bytes=int(head.get("ContentLength", 0)),
                    sha256=meta.get("sha256", ""),
                    timestamp_min=parse_int64(meta.get("timestamp-min")),
                    timestamp_max=parse_int64(meta.get("timestamp-max")),
                    cursor=int(meta.get("cursor", 0)),
                )
            )
        run = LandingRun(self, connection, int(division), endpoint.strip("/"), run_id, prefix, {})
        run.parts = parts
        return run.complete(status="recovered")

    # --- writing ------------------------------------------------------------------------------------------------
    def _put(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str], once: bool = False) -> None:
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if once else {}
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=metadata,
                **extra,
                **self.put_options,
            )
        except Exception as exc:
            if once and error_code(exc) == "PreconditionFailed":
                raise LandingError(f"s3://{self.bucket}/{key} exists already; a manifest is never replaced") from exc
            raise self._failure(exc, f"write s3://{self.bucket}/{key}") from exc

    def _failure(self, exc: Exception, what: str) -> Exception:
        if not is_aws_failure(exc):
            return exc
        return LandingError(f"could not {what}: {exc}")


@dataclass
class LandingRun:
    """One run of one unit: :meth:`write` lands a batch (the sync engine's consumer), :meth:`complete` writes the
    manifest."""

    sink: S3Sink
    connection: str
    division: int
    endpoint: str
    run_id: str
    prefix: str
    cursor_from: dict[str, int | None]
    parts: list[Part] = field(default_factory=list)
    started_at: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started_at = self.sink.clock.now()

    def write(self, batch: SyncBatch) -> None:
        """Land one batch as one part; returns once S3 has it (then the engine may move the cursor)."""
        if not batch.rows:
            return  # nothing to land (a deletions page of other entities still moves the cursor)
        kind = batch.kind
        number = sum(1 for p in self.parts if p.kind == kind) + 1
        key = f"{self.prefix}/{kind}/part-{number:05d}.jsonl.gz"
        text = "".join(dumps_row(row) + "\n" for row in batch.rows)
        body = gzip.compress(text.encode("utf-8"), compresslevel=self.sink.compresslevel, mtime=0)
        stamps = [s for s in (parse_int64(row.get("Timestamp")) for row in batch.rows) if s is not None]
        part = Part(
            key=key,
            kind=kind,
            rows=len(batch.rows),
            bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            timestamp_min=min(stamps) if stamps else None,
            timestamp_max=max(stamps) if stamps else None,
            cursor=batch.cursor,
        )
        metadata = {
            "kind": kind,
            "rows": str(part.rows),
            "sha256": part.sha256,
            "cursor": str(batch.cursor),
            "page": str(batch.page),
        }
        if part.timestamp_min is not None:
            metadata["timestamp-min"] = str(part.timestamp_min)
            metadata["timestamp-max"] = str(part.timestamp_max)
        self.sink._put(key, body, content_type="application/x-ndjson", metadata=metadata)
        self.parts.append(part)

    @property
    def rows(self) -> dict[str, int]:
        """Rows landed so far, by kind."""
        totals = {"changes": 0, "deletions": 0}
        for part in self.parts:
            totals[part.kind] = totals.get(part.kind, 0) + part.rows
        return totals

    def complete(self, *, status: str = "complete", cursor_to: dict[str, int | None] | None = None) -> dict[str, Any]:
        """Write the manifest (once: never replaced) and return it."""
        cursor: dict[str, dict[str, int | None]] = {}
        for kind in ("changes", "deletions"):
            landed = [p.cursor for p in self.parts if p.kind == kind]
            to = (cursor_to or {}).get(kind)
            cursor[kind] = {
                "from": self.cursor_from.get(kind),
                "to": to if to is not None else (max(landed) if landed else None),
            }
        manifest = {
            "format": FORMAT,
            "status": status,
            "connection": self.connection,
            "division": self.division,
            "endpoint": self.endpoint,
            "run_id": self.run_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.sink.clock.now()),
            "rows": self.rows,
            "cursor": cursor,
            "parts": [p.as_dict() for p in self.parts],
        }
        if status == "recovered":
            manifest["note"] = (
                "written for a run that stopped before its end: the parts are what it landed; the next run delivers "
                "again what came after the last saved cursor"
            )
            manifest["started_at"] = None
        body = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        self.sink._put(f"{self.prefix}/{MANIFEST}", body, content_type="application/json", metadata={}, once=True)
        return manifest
