"""REPORTS_X_ACCEL_REDIRECT: nginx sends a download's bytes, the app still decides who gets them.

With the setting on, a permitted download is the app's usual answer (the same checks, audit
entry, first-download mark and headers) with an empty body and "X-Accel-Redirect: <prefix>
<stored name>"; a refused one is today's refusal without that header. Off, the app sends the
file itself. nginx's side (the internal location, its headers, the bytes) is in
test_deploy.py::test_nginx_sends_the_download_the_app_allowed.
"""

import pytest
from sqlalchemy import func, select, update

from app import create_app
from extensions import db, storage
from models import AuditEntry, Document, Download
from tests.conftest import Browser
from tests.samples import sample_bytes
from tests.test_headers import THAI_NAME, assert_download_headers
from tests.test_permissions import ROLES, TABLE, USERS, outcome

FILES = "/myoffice-reports-files/"


@pytest.fixture
def accel(make_app, app):
    """The same installation (database, upload folder) with the setting on."""
    return make_app(X_ACCEL_REDIRECT=FILES)


def browser_of(app, world, role):
    if role == "anonymous":
        return None, Browser(app)
    me = getattr(world, USERS[role])
    b = Browser(app)
    assert b.login(me.username).status_code == 302
    return me, b


def audit_count(user_id, document_id) -> int:
    query = select(func.count()).select_from(AuditEntry)
    query = query.filter_by(action="document_downloaded", actor_id=user_id, object_id=document_id)
    return db.session.scalar(query)


def test_a_permitted_download_names_the_stored_file_for_nginx(app, accel, world, make_document):
    document = make_document(world.indicator, world.reporter, filename=THAI_NAME)
    me, on = browser_of(accel, world, "receiver")
    _, off = browser_of(app, world, "receiver")

    response = on.get("receive.download", document_id=document.id)

    assert response.status_code == 200
    assert response.headers["X-Accel-Redirect"] == FILES + document.stored_name
    assert response.get_data() == b""
    assert_download_headers(response, "x-accel")
    today = off.get("receive.download", document_id=document.id)
    assert today.get_data() == sample_bytes("pdf")
    assert "X-Accel-Redirect" not in today.headers
    # Sent by the app itself, the file is buffered by nginx like any answer, so a slow line
    # holds nginx, not a gunicorn thread.
    assert "X-Accel-Buffering" not in today.headers
    for header in ("Content-Type", "Content-Disposition", "Cache-Control", "Referrer-Policy"):
        assert response.headers[header] == today.headers[header], header
    # The bookkeeping happened for the redirected download too: an audit entry per download,
    # and the first-download mark the hand-over's "only what I have not downloaded" reads.
    assert audit_count(me.id, document.id) == 2
    assert db.session.get(Download, (me.id, document.id)) is not None


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_it_gets_today(app, accel, world, make_document, role):
    """The permission table's row for downloads, with the setting on and off alike."""
    expected = dict(zip(ROLES, TABLE["receive.download", "GET"], strict=True))[role]
    document = make_document(world.indicator, world.reporter)
    answers = {}
    for label, installation in (("off", app), ("on", accel)):
        me, b = browser_of(installation, world, role)
        before = audit_count(me and me.id, document.id)
        response = b.get("receive.download", document_id=document.id)
        answers[label] = response
        assert outcome(response, me is None) == expected, label
        recorded = audit_count(me and me.id, document.id) - before
        assert recorded == (1 if expected == 200 else 0), label
    on, off = answers["on"], answers["off"]
    assert on.status_code == off.status_code
    assert on.headers.get("Location") == off.headers.get("Location")
    if expected == 200:
        assert on.headers["X-Accel-Redirect"] == FILES + document.stored_name
        assert on.get_data() == b"" and off.get_data() == sample_bytes("pdf")
    else:
        assert "X-Accel-Redirect" not in on.headers
        assert "attachment" not in on.headers.get("Content-Disposition", "")
        assert on.mimetype == off.mimetype


@pytest.mark.parametrize("stored_name", ["../../etc/passwd", "x" * 32 + ".pdf", "missing"])
def test_no_redirect_for_a_name_we_did_not_store(accel, world, make_document, stored_name):
    """A hand-edited or restored row's name, or a file gone from disk: the usual 404, and
    nothing is recorded, as without the setting."""
    document = make_document(world.indicator, world.reporter)
    if stored_name == "missing":
        storage().delete(document.stored_name)
    else:
        db.session.execute(
            update(Document).where(Document.id == document.id).values(stored_name=stored_name)
        )
        db.session.commit()
    me, b = browser_of(accel, world, "receiver")

    response = b.get("receive.download", document_id=document.id)

    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response.headers
    assert audit_count(me.id, document.id) == 0


def test_a_text_document_keeps_its_own_charset(app, accel, world, make_document):
    """A windows-874 CSV goes out as detected, once, with or without the setting."""
    document = make_document(
        world.indicator, world.reporter, data=sample_bytes("csv-cp874"), filename="ตาราง.csv"
    )
    assert document.content_type == "text/csv; charset=windows-874"
    for installation in (app, accel):
        _, b = browser_of(installation, world, "receiver")
        response = b.get("receive.download", document_id=document.id)
        assert response.headers["Content-Type"] == "text/csv; charset=windows-874"


@pytest.mark.parametrize(
    "value",
    ["myoffice-reports-files/", "/myoffice-reports-files", "/my files/", "/", "/a\n/", "/a?/"],
)
def test_a_malformed_prefix_refuses_to_start(migrated, tmp_path, value):
    config = {"SECRET_KEY": "x", "DATABASE_URL": migrated, "UPLOAD_DIR": str(tmp_path)}
    with pytest.raises(RuntimeError, match="REPORTS_X_ACCEL_REDIRECT"):
        create_app({**config, "X_ACCEL_REDIRECT": value})


def test_the_setting_comes_from_the_environment(migrated, tmp_path, monkeypatch):
    config = {"SECRET_KEY": "x", "DATABASE_URL": migrated, "UPLOAD_DIR": str(tmp_path)}
    assert create_app(config).config["X_ACCEL_REDIRECT"] == ""  # off unless set
    monkeypatch.setenv("REPORTS_X_ACCEL_REDIRECT", FILES)
    assert create_app(config).config["X_ACCEL_REDIRECT"] == FILES
    monkeypatch.setenv("REPORTS_X_ACCEL_REDIRECT", "/uploads")
    with pytest.raises(RuntimeError, match='ending with "/"'):
        create_app(config)
