"""The command line: init-db (twice), create-user, seed-demo, on a database of their own."""

import pytest

from app import create_app
from extensions import db
from models import Document, Indicator, User
from tests.conftest import Browser


@pytest.fixture
def fresh_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "cli",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            "UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_init_db_is_safe_to_run_twice(fresh_app):
    runner = fresh_app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_create_user_with_and_without_password_option(fresh_app):
    runner = fresh_app.test_cli_runner()
    runner.invoke(args=["init-db"])
    result = runner.invoke(
        args=[
            "create-user",
            "Somchai",
            "--name",
            "สมชาย ใจดี",
            "--position",
            "กลุ่มอำนวยการ",
            "--admin",
            "--password",
            "รหัสผ่านยาวพอ",
        ]
    )
    assert result.exit_code == 0, result.output
    prompted = runner.invoke(
        args=["create-user", "manee", "--name", "มานี มีนา"], input="รหัสผ่าน1234\nรหัสผ่าน1234\n"
    )
    assert prompted.exit_code == 0, prompted.output
    duplicate = runner.invoke(
        args=["create-user", "somchai", "--name", "ซ้ำ", "--password", "x" * 8]
    )
    assert duplicate.exit_code != 0 and "มีอยู่แล้ว" in duplicate.output
    with fresh_app.app_context():
        somchai = db.session.scalar(db.select(User).filter_by(username="somchai"))
        assert somchai.is_admin and somchai.reporter_status is None
        assert somchai.position == "กลุ่มอำนวยการ"
    assert Browser(fresh_app).login("manee", "รหัสผ่าน1234").status_code == 302


def test_set_admin_makes_a_portal_user_the_officer(fresh_app, tmp_path):
    """The first officer of a portal-login installation is named on the command line."""
    fresh_app.config.update(
        AUTH_MODE="php-session", PHP_SESSION_SAVE_PATH=str(tmp_path), PHP_SESSION_MAX_AGE=0
    )
    runner = fresh_app.test_cli_runner()
    runner.invoke(args=["init-db"])
    unknown = runner.invoke(args=["set-admin", "somchai"])
    assert unknown.exit_code != 0 and "ไม่พบผู้ใช้ somchai" in unknown.output

    sid = "a" * 26
    session_file = tmp_path / f"sess_{sid}"
    session_file.write_bytes('username|s:7:"somchai";fullname|s:28:"สมชาย ใจดี";'.encode())
    session_file.chmod(0o600)  # as PHP writes it
    browser = Browser(fresh_app)
    browser.client.set_cookie("PHPSESSID", sid)
    assert "จัดการบัญชีผู้ใช้" not in browser.get("auth.index").get_data(as_text=True)

    granted = runner.invoke(args=["set-admin", "SomChai"])
    assert granted.exit_code == 0, granted.output
    assert "จัดการบัญชีผู้ใช้" in browser.get("auth.index").get_data(as_text=True)

    revoked = runner.invoke(args=["set-admin", "somchai", "--remove"])
    assert revoked.exit_code == 0, revoked.output
    assert browser.get("auth.accounts").status_code == 403


def test_seed_demo_fills_an_empty_database_once(fresh_app):
    runner = fresh_app.test_cli_runner()
    runner.invoke(args=["init-db"])
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "kpi" in result.output and "demo1234" in result.output
    with fresh_app.app_context():
        statuses = set(db.session.scalars(db.select(Document.status)))
        assert statuses == {"sent", "received", "returned"}
        assert db.session.scalar(db.select(db.func.count(Document.id)).filter_by(late=True)) >= 1
        assert db.session.scalar(db.select(db.func.count(Indicator.id))) >= 5
    assert runner.invoke(args=["seed-demo", "--if-empty"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code != 0  # never on a database in use
    b = Browser(fresh_app)
    assert b.login("kpi", "demo1234").status_code == 302
    reporter = Browser(fresh_app)
    reporter.login("reporter", "demo1234")
    page = reporter.get("send.index").get_data(as_text=True)
    assert "ส่งแล้ว" in page and "รับแล้ว" in page


def test_migrations_build_exactly_the_models_schema(app):
    """The test database was built by the migrations: they must agree with models.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, db.metadata) == []
