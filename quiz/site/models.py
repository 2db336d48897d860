"""The site settings' tables (migration 0010): the values, their history, the logo, the version.

Registered on the app's `db` like the other packages' models. One writer: quiz.site.settings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quiz.extensions import db
from quiz.models import UTCDateTime, utcnow


class SiteSetting(db.Model):  # type: ignore[name-defined,misc]
    """One setting the coach changed from its default (a key without a row has its default)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    # The value as checked by quiz.site.schema: text as is, booleans as "true"/"false".
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteSettingChange(db.Model):  # type: ignore[name-defined,misc]
    """Who changed which setting when, from what to what (None: the default)."""

    __tablename__ = "site_setting_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # "coach:<address>", "cli" or "env" (the first start's import of environment variables).
    changed_by: Mapped[str] = mapped_column(String(300))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SiteAsset(db.Model):  # type: ignore[name-defined,misc]
    """A file the settings name by its hash (the logo), served from this site."""

    __tablename__ = "site_assets"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteState(db.Model):  # type: ignore[name-defined,misc]
    """One row: the settings' version, raised by every change, read by every request."""

    __tablename__ = "site_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    settings_version: Mapped[int] = mapped_column(BigInteger)
