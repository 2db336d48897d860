"""What `check-deploy` says about the site settings and the database's schema.

The settings live in the database, so these checks need it (quiz.deploy checks the environment
only): a database that is not migrated yet is told to run `db upgrade` first; an incomplete
Impressum fails a production check; every setting still at its default is listed.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from quiz.deploy import Problem
from quiz.extensions import db
from quiz.paths import resource_dir
from quiz.site import settings as site_settings

UPGRADE = "run `flask --app quiz db upgrade` first"


def schema_problem() -> Problem | None:
    """A database that is not at the code's newest migration (or cannot be read)."""
    head = ScriptDirectory(str(resource_dir("migrations"))).get_current_head()
    try:
        with db.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        return Problem("database", f"cannot be read ({type(error).__name__})", True)
    if revision is None:
        return Problem("database", f"is not migrated yet: {UPGRADE}", True)
    if revision != head:
        return Problem(
            "database", f"is at migration {revision}, the code needs {head}: {UPGRADE}", True
        )
    return None


def problems(app: Flask) -> list[Problem]:
    """The database's schema, the Impressum and every setting still at its default."""
    schema = schema_problem()
    if schema is not None:
        return [schema]
    current = site_settings.current(app)
    found: list[Problem] = []
    production = app.config.get("QUIZ_ENV") == "production"
    labels = site_settings.schema(app)
    if current.impressum_missing:
        names = ", ".join(current.impressum_missing)
        found.append(
            Problem(
                "impressum",
                f"the Impressum needs {names} (/coach/einstellungen, or "
                "`flask --app quiz settings set KEY VALUE`)",
                production,
            )
        )
    for key in current.defaults_in_place:
        setting = labels.get(key)
        label = setting.label if setting else key
        found.append(Problem(key, f"still the default ({label})", False))
    return found
