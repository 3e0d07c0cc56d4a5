"""Comfort-model versions: store, list, serve and withdraw what the ML team signed offline.

    blob = decode_model_b64(body.model_b64)                     # 422 naming model_b64
    stored, created = publish(conn, manifest, blob, ctx.clock.now())
    offered(conn)                                               # what agents may install
    withdraw(conn, "1.2.0", ctx.clock.now())

The service never signs: the Ed25519 key that signs `name:version:sha256` stays with the ML
team, and every agent verifies size, sha256 and signature itself, so a compromised central
service cannot push a model any room would accept. Here we check only what keeps the store
honest (the bytes match the manifest, one content per version) and refuse anything else
with a precise ApiError that changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from loyalty.db.tables import models
from loyalty.errors import ApiError
from loyalty.schemas import PublishedModel
from sync.wire import ModelManifest, model_path, version_key

VERSION_PATTERN = r"^\d+\.\d+\.\d+$"
VERSION_MAX = 32  # the column's width
_ASCII_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
SIGNATURE_BYTES = 64  # Ed25519
_LISTED = [c for c in models.c if c.name != "blob"]


def decode_model_b64(model_b64: str) -> bytes:
    """Standard base64, canonical (what `base64.b64encode` gives), so one file has exactly
    one encoding."""
    try:
        blob = base64.b64decode(model_b64, validate=True)
    except (binascii.Error, ValueError):
        blob = None
    if blob is None or base64.b64encode(blob).decode() != model_b64:
        raise ApiError(
            422,
            "invalid_base64",
            "model_b64 is not canonical standard base64 (A-Z a-z 0-9 + /, '=' padding, "
            "no whitespace, zero padding bits)",
            field="model_b64",
        )
    return blob


def check_model(manifest: ModelManifest, blob: bytes, *, source: str = "model_b64") -> None:
    """The bytes must be what the manifest describes; the manifest must be storable."""
    version = manifest.version
    if len(version) > VERSION_MAX or not _ASCII_VERSION.fullmatch(version):
        raise ApiError(
            422,
            "invalid_version",
            f"manifest.version {version[:40]!r} must be MAJOR.MINOR.PATCH in ASCII digits, "
            f"at most {VERSION_MAX} characters",
            field="manifest.version",
        )
    try:
        signature = base64.b64decode(manifest.signature_b64, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != SIGNATURE_BYTES:
        raise ApiError(
            422,
            "invalid_signature",
            "manifest.signature_b64 is not the standard base64 of a 64-byte Ed25519 signature",
            field="manifest.signature_b64",
        )
    if len(blob) != manifest.size_bytes:
        raise ApiError(
            422,
            "size_mismatch",
            f"{source} is {len(blob)} bytes, manifest.size_bytes says {manifest.size_bytes}",
            field=source,
        )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != manifest.sha256:
        raise ApiError(
            422,
            "sha256_mismatch",
            f"{source} has sha256 {digest}, manifest.sha256 says {manifest.sha256}",
            field=source,
        )


def _manifest(row: Any) -> ModelManifest:
    return ModelManifest(
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        signature_b64=row.signature_b64,
        url=model_path(row.version, row.name),
    )


def _published(row: Any) -> PublishedModel:
    return PublishedModel(
        manifest=_manifest(row),
        published_at=row.published_at,
        withdrawn_at=row.withdrawn_at,
        withdrawn=row.withdrawn_at is not None,
    )


def _row(conn: Connection, name: str, version: str) -> Any:
    return conn.execute(
        select(*_LISTED).where(models.c.name == name, models.c.version == version)
    ).first()


@dataclass(frozen=True)
class Published:
    manifest: ModelManifest
    created: bool


def publish(
    conn: Connection,
    manifest: ModelManifest,
    blob: bytes,
    now: datetime,
    *,
    source: str = "model_b64",
) -> Published:
    """Store a version. The same version with the same sha256 and signature again is a
    retry (the stored manifest, `created=False`; a withdrawn version stays withdrawn);
    the same version with other content is a 409. `source` names the bytes in errors."""
    check_model(manifest, blob, source=source)
    existing = _row(conn, manifest.name, manifest.version)
    if existing is not None:
        if (existing.sha256, existing.signature_b64) != (manifest.sha256, manifest.signature_b64):
            differs = "sha256" if existing.sha256 != manifest.sha256 else "signature_b64"
            raise ApiError(
                409,
                "version_exists",
                f"{manifest.name} {manifest.version} is already published with another "
                f"{differs} (versions are immutable; publish a new version)",
                field=f"manifest.{differs}",
            )
        return Published(_manifest(existing), created=False)
    conn.execute(
        models.insert().values(
            name=manifest.name,
            version=manifest.version,
            sha256=manifest.sha256,
            size_bytes=manifest.size_bytes,
            signature_b64=manifest.signature_b64,
            blob=blob,
            published_at=now,
            withdrawn_at=None,
        )
    )
    return Published(_manifest(_row(conn, manifest.name, manifest.version)), created=True)


def _newest_first(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: (version_key(r.version), r.version), reverse=True)


def all_versions(conn: Connection) -> list[PublishedModel]:
    """Every stored version, withdrawn ones too, newest first."""
    rows = conn.execute(select(*_LISTED)).all()
    return [_published(r) for r in _newest_first(list(rows))]


def offered(conn: Connection) -> list[ModelManifest]:
    """What agents may install: the versions not withdrawn, newest first."""
    rows = conn.execute(select(*_LISTED).where(models.c.withdrawn_at.is_(None))).all()
    return [_manifest(r) for r in _newest_first(list(rows))]


def withdraw(
    conn: Connection, version: str, now: datetime, name: str = "comfort"
) -> PublishedModel:
    """Stop offering a version (idempotent: a second withdrawal keeps the first time)."""
    row = _row(conn, name, version)
    if row is None:
        raise ApiError(404, "model_not_found", f"no {name} model version {version!r}")
    if row.withdrawn_at is None:
        conn.execute(
            models.update()
            .where(models.c.name == name, models.c.version == version)
            .values(withdrawn_at=now)
        )
        row = _row(conn, name, version)
    return _published(row)


@dataclass(frozen=True)
class ModelFile:
    blob: bytes
    sha256: str


def download(conn: Connection, version: str, name: str = "comfort") -> ModelFile:
    """The bytes of an offered version; 404 for unknown or withdrawn ones."""
    row = conn.execute(
        select(models.c.blob, models.c.sha256).where(
            models.c.name == name,
            models.c.version == version,
            models.c.withdrawn_at.is_(None),
        )
    ).first()
    if row is None:
        raise ApiError(404, "model_not_found", f"no offered {name} model version {version!r}")
    return ModelFile(blob=bytes(row.blob), sha256=row.sha256)
