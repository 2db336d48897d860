"""A non-editable install (a built wheel) still finds templates, static files, content, migrations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent(
    """
    import quiz, sys
    from quiz import create_app
    from quiz.paths import resource_dir
    assert "site" in quiz.__file__, quiz.__file__
    for name in ("templates", "static", "content", "migrations"):
        assert str(resource_dir(name)).startswith(sys.argv[1]), (name, resource_dir(name))
    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40,
                      "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[2] + "/q.db"})
    from flask_migrate import upgrade
    with app.app_context():
        upgrade()  # the bundled migrations, on a new database
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and "Quiz starten" in page.get_data(as_text=True)
    assert client.get("/static/css/site.css").status_code == 200
    print("ok")
    """
)


def test_built_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("engpass_quiz-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    run = subprocess.run(
        [sys.executable, "-c", CHECK, str(site), str(tmp_path)],
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(site),
            "PATH": "/usr/bin:/bin",
            "QUIZ_INSTANCE_PATH": str(tmp_path / "instance"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
