"""Coach accounts: argon2id password hashes, session nonces, authentication.

A coach's login cookie carries `"<id>:<session_nonce>"` as its user id. Logging out and changing
the password draw a new nonce, so every cookie issued before stops working at once, in every
worker (Flask's cookie sessions cannot be revoked any other way).
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from quiz import database
from quiz.extensions import db
from quiz.models import Coach

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so both failures take the same time.

    Made on first use, not at import: every process that imports the app (each CLI command,
    each PDF render process) would otherwise pay a whole argon2 hash at start-up.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A coach account cannot be created or changed; the message says why."""


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def find_coach(email: str) -> Coach | None:
    """The coach with this email, if any."""
    return db.session.execute(
        select(Coach).where(Coach.email == normalise_email(email))
    ).scalar_one_or_none()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


def create_coach(email: str, password: str) -> Coach:
    """Create a coach account; AccountError when the email is taken or the password too short."""
    _check_password(password)
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    with database.write():
        if find_coach(email) is not None:
            raise AccountError(f"a coach with the email {email} exists already (use --reset)")
        coach = Coach(
            email=email, password_hash=_hasher.hash(password), session_nonce=secrets.token_hex(16)
        )
        db.session.add(coach)
    return coach


def set_password(email: str, password: str) -> Coach:
    """Set a new password and end every session of this coach."""
    _check_password(password)
    with database.write():
        coach = find_coach(email)
        if coach is None:
            raise AccountError(f"there is no coach with the email {normalise_email(email)}")
        coach.password_hash = _hasher.hash(password)
        coach.session_nonce = secrets.token_hex(16)
    return coach


def authenticate(email: str, password: str) -> Coach | None:
    """The coach when email and password match; None otherwise, taking the same time."""
    coach = find_coach(email)
    try:
        _hasher.verify(coach.password_hash if coach else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if coach is None:
        return None
    if _hasher.check_needs_rehash(coach.password_hash):
        with database.write():
            coach = db.session.get(Coach, coach.id)
            if coach is not None:
                coach.password_hash = _hasher.hash(password)
    return coach


def end_sessions(coach_id: int) -> None:
    """Draw a new nonce: every login cookie of this coach stops working."""
    with database.write():
        coach = db.session.get(Coach, coach_id)
        if coach is not None:
            coach.session_nonce = secrets.token_hex(16)


def session_id(coach: Coach) -> str:
    """The user id a login cookie carries."""
    return f"{coach.id}:{coach.session_nonce}"


def load_by_session_id(value: str) -> Coach | None:
    """The coach a login cookie belongs to, if its nonce is still current."""
    coach_id, _, nonce = value.partition(":")
    # ASCII digits within int4 only ("²".isdigit() is true; ids are int4 on PostgreSQL).
    if not (coach_id.isascii() and coach_id.isdigit() and len(coach_id) <= 10) or not nonce:
        return None
    if int(coach_id) > 2**31 - 1:
        return None
    coach = db.session.get(Coach, int(coach_id))
    if coach is None or not secrets.compare_digest(coach.session_nonce, nonce):
        return None
    return coach
