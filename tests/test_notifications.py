"""Notifications: queued with the action, shown under the bell, emailed in one digest per person
through a real SMTP server on loopback (aiosmtpd), and deadline reminders queued once."""

import email
import socket
import time
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller

import audit
import notifications
from blueprints.receive import services as receive_services
from blueprints.years.services import round_of
from extensions import db
from models import REPORTER, FiscalYear, Notification, utcnow
from thai import bangkok_date, now_utc

PUBLIC_URL = "https://office.example/myoffice/reports"
DOMAIN = "office.example"


def rows(user=None, kind=None) -> list[Notification]:
    db.session.commit()
    stmt = db.select(Notification).order_by(Notification.id)
    if user is not None:
        stmt = stmt.where(Notification.user_id == user.id)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


# In the action's transaction ---------------------------------------------------------------


def test_receiver_is_notified_of_a_new_document(world, make_document):
    document = make_document(world.indicator, world.reporter, title="แผนปฏิบัติการ")

    (only,) = rows()
    assert only.user_id == world.receiver.id and only.kind == "document_sent"
    assert only.document_id == document.id and only.read_at is None
    text = notifications.describe(only)
    assert "เอกสาร แผนปฏิบัติการ" in text and world.reporter.full_name in text
    assert "รอบ 6 เดือน" in text and world.indicator.code in text


def test_a_failed_send_leaves_no_notification(world, make_document, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the audit trail is down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        make_document(world.indicator, world.reporter)
    assert rows() == []


def test_reporter_hears_of_receipt_and_return_with_the_reason(world, make_document):
    stored = make_document(world.indicator, world.reporter, title="เรื่องที่หนึ่ง")
    returned = make_document(world.indicator, world.reporter, title="เรื่องที่สอง")
    receive_services.store_document(world.receiver, stored)
    receive_services.return_document(world.receiver, returned, "ขาดหลักฐานหน้า 2")

    received, sent_back = rows(world.reporter)
    assert received.kind == "document_received" and received.document_id == stored.id
    assert "รับแล้ว: เรื่องที่หนึ่ง" in notifications.describe(received)
    assert sent_back.kind == "document_returned"
    assert "เหตุผล: ขาดหลักฐานหน้า 2" in notifications.describe(sent_back)


def test_nobody_is_notified_of_their_own_action(world, make_indicator, make_document):
    """The officer who reports on an indicator they also receive hears nothing of it."""
    world.officer.reporter_status = REPORTER
    own = make_indicator("3.3", receiver=world.officer, reporters=[world.officer])
    document = make_document(own, world.officer)
    receive_services.store_document(world.officer, document)
    assert rows() == []


def test_a_revision_tells_the_receiver_it_is_a_revision(world, make_document, tmp_path):
    import io

    from werkzeug.datastructures import FileStorage

    from blueprints.send.services import send_revision
    from extensions import storage
    from tests.samples import sample_bytes

    document = make_document(world.indicator, world.reporter)
    receive_services.return_document(world.receiver, document, "แก้ไขตาราง")
    upload = FileStorage(io.BytesIO(sample_bytes("pdf")), filename="ฉบับแก้ไข.pdf")
    send_revision(storage(), world.reporter, document, "ฉบับแก้ไข", upload)

    kinds = [n.kind for n in rows(world.receiver)]
    assert kinds == ["document_sent", "document_revised"]


# The bell and the list ---------------------------------------------------------------------


def test_bell_shows_the_unread_count_with_words(world, make_document, login_as):
    make_document(world.indicator, world.reporter)
    make_document(world.indicator, world.reporter)
    page = login_as(world.receiver).get("auth.index").get_data(as_text=True)
    assert 'aria-label="การแจ้งเตือน 2 รายการที่ยังไม่อ่าน"' in page

    quiet = login_as(world.staff).get("auth.index").get_data(as_text=True)
    assert 'aria-label="การแจ้งเตือน 0 รายการที่ยังไม่อ่าน"' in quiet


def test_list_is_newest_first_and_links_to_where_to_act(world, make_document, login_as):
    first = make_document(world.indicator, world.reporter, title="ฉบับแรก")
    make_document(world.indicator, world.reporter, title="ฉบับหลัง", months=9)
    receive_services.store_document(world.receiver, first)

    b = login_as(world.receiver)
    page = b.get("notifications.index").get_data(as_text=True)
    assert page.index("ฉบับหลัง") < page.index("ฉบับแรก")
    link = b.url("receive.indicator_page", months=9, indicator_id=world.indicator.id)
    assert f'href="{link}"' in page
    assert "รับแล้ว" not in page  # the reporter's event is not the receiver's

    mine = login_as(world.reporter).get("notifications.index").get_data(as_text=True)
    assert "รับแล้ว: ฉบับแรก" in mine and f'href="{b.url("send.index")}"' in mine
    assert "ฉบับหลัง" not in mine


def test_mark_one_then_all_read(world, make_document, login_as):
    make_document(world.indicator, world.reporter)
    make_document(world.indicator, world.reporter)
    b = login_as(world.receiver)
    one, two = rows(world.receiver)

    assert b.post("notifications.mark_read", {"id": str(one.id)}).status_code == 302
    assert [n.read_at is not None for n in rows(world.receiver)] == [True, False]
    page = b.get("auth.index").get_data(as_text=True)
    assert "การแจ้งเตือน 1 รายการที่ยังไม่อ่าน" in page

    assert b.post("notifications.mark_read").status_code == 302
    assert all(n.read_at is not None for n in rows(world.receiver))


def test_nobody_reads_or_marks_anothers_notifications(world, make_document, login_as):
    make_document(world.indicator, world.reporter, title="ของผู้รับข้อมูล")
    (theirs,) = rows(world.receiver)
    other = login_as(world.other_reporter)

    assert "ของผู้รับข้อมูล" not in other.get("notifications.index").get_data(as_text=True)
    other.post("notifications.mark_read", {"id": str(theirs.id)})
    other.post("notifications.mark_read")
    assert rows(world.receiver)[0].read_at is None


@pytest.mark.parametrize("bad", ["abc", "0", "-1", str(2**31), ""])
def test_a_broken_id_marks_nothing_read(world, make_document, login_as, bad):
    """Not "all": unread events are the ones still to be emailed."""
    make_document(world.indicator, world.reporter)
    response = login_as(world.receiver).post("notifications.mark_read", {"id": bad})
    assert response.status_code in (400, 404)
    assert rows(world.receiver)[0].read_at is None


def test_mark_read_needs_csrf(world, make_document, login_as):
    make_document(world.indicator, world.reporter)
    response = login_as(world.receiver).post("notifications.mark_read", csrf=False)
    assert response.status_code == 400
    assert rows(world.receiver)[0].read_at is None


# Email through a real SMTP server on loopback ----------------------------------------------


class Inbox:
    """aiosmtpd's handler: keeps every message the server accepted."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    """A loopback SMTP server (started by the test when it wants it up) and the app set to
    use it."""
    port = free_port()
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_DOMAIN=DOMAIN,
        SMTP_TIMEOUT=5,
        PUBLIC_URL=PUBLIC_URL,
    )
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)

    class Server:
        messages = inbox.messages

        def start(self):
            controller.start()

        def stop(self):
            controller.stop()

    server = Server()
    yield server
    if getattr(controller, "_thread", None) is not None:
        controller.stop()


def send(app):
    return app.test_cli_runner().invoke(args=["send-notifications"])


def test_one_thai_digest_per_person(app, world, make_document, smtp):
    smtp.start()
    for title in ("เรื่องที่หนึ่ง", "เรื่องที่สอง", "เรื่องที่สาม"):
        make_document(world.indicator, world.reporter, title=title)
    stored = make_document(world.indicator, world.reporter, title="เรื่องที่สี่")
    receive_services.store_document(world.receiver, stored)

    result = send(app)

    assert result.exit_code == 0, result.output
    by_address = {rcpt[0]: message for rcpt, message in smtp.messages}
    assert sorted(by_address) == [f"receiver@{DOMAIN}", f"reporter@{DOMAIN}"]
    digest = by_address[f"receiver@{DOMAIN}"]
    assert digest["Subject"] == "ระบบรายงานตัวชี้วัด: มี 4 เรื่องใหม่"
    assert digest["To"].addresses[0].display_name == world.receiver.full_name
    body = digest.get_content()
    assert digest.get_content_charset() == "utf-8"
    assert f"เรียน {world.receiver.full_name}" in body
    for title in ("เรื่องที่หนึ่ง", "เรื่องที่สอง", "เรื่องที่สาม", "เรื่องที่สี่"):
        assert f"เอกสาร {title}" in body
    assert f"{PUBLIC_URL}/receive/round/6/indicator/{world.indicator.id}" in body
    assert f"{PUBLIC_URL}/notifications/" in body
    reporter_digest = by_address[f"reporter@{DOMAIN}"]
    assert reporter_digest["Subject"] == "ระบบรายงานตัวชี้วัด: มี 1 เรื่องใหม่"
    assert "รับแล้ว: เรื่องที่สี่" in reporter_digest.get_content()
    assert all(n.emailed_at is not None for n in rows())

    again = send(app)  # nothing new: nothing mailed
    assert again.exit_code == 0 and len(smtp.messages) == 2


def test_server_down_then_up_loses_nothing_and_doubles_nothing(app, world, make_document, smtp):
    make_document(world.indicator, world.reporter, title="ส่งตอนเซิร์ฟเวอร์ล่ม")

    down = send(app)

    assert down.exit_code != 0 and "ติดต่อเซิร์ฟเวอร์อีเมลไม่ได้" in down.output
    (waiting,) = rows()
    assert waiting.emailed_at is None and waiting.last_error
    assert waiting.email_attempts == 0  # the server's state, not the message's fault

    smtp.start()
    make_document(world.indicator, world.reporter, title="ส่งหลังเซิร์ฟเวอร์กลับมา")
    up = send(app)
    again = send(app)

    assert up.exit_code == 0 and again.exit_code == 0, up.output + again.output
    assert len(smtp.messages) == 1
    body = smtp.messages[0][1].get_content()
    assert "ส่งตอนเซิร์ฟเวอร์ล่ม" in body and "ส่งหลังเซิร์ฟเวอร์กลับมา" in body
    assert all(n.emailed_at is not None and n.last_error is None for n in rows())


def test_a_server_going_down_mid_run_keeps_the_rest_for_later(app, world, make_document, smtp):
    """The first person's digest is accepted; the server then stops: the second waits."""
    make_document(world.indicator, world.reporter, title="เรื่องแรก")
    stored = make_document(world.indicator, world.reporter, title="เรื่องที่รับแล้ว")
    receive_services.store_document(world.receiver, stored)
    smtp.start()
    original = notifications.build_digest
    calls = []

    def stop_after_first(user, items, address):
        calls.append(user.id)
        if len(calls) == 2:
            smtp.stop()
            time.sleep(0.1)
        return original(user, items, address)

    notifications.build_digest = stop_after_first
    try:
        first = send(app)
    finally:
        notifications.build_digest = original
    assert first.exit_code != 0
    assert len(smtp.messages) == 1
    unsent = [n for n in rows() if n.emailed_at is None]
    assert unsent and {n.user_id for n in unsent} == {calls[1]}


def test_a_refused_message_is_retried_then_given_up(app, world, make_document, smtp):
    world.receiver.username = "ผู้รับ"  # no address can be made from it
    db.session.commit()
    make_document(world.indicator, world.reporter)
    smtp.start()
    result = send(app)
    assert result.exit_code != 0
    (row,) = rows()
    assert row.emailed_at is None and row.email_attempts == notifications.MAX_ATTEMPTS
    assert send(app).exit_code == 0  # given up: not tried on every run


def test_without_smtp_host_nothing_is_sent(app, world, make_document):
    make_document(world.indicator, world.reporter)
    result = send(app)
    assert result.exit_code == 0 and "REPORTS_SMTP_HOST" in result.output
    assert rows()[0].emailed_at is None


def test_read_notifications_are_not_emailed(app, world, make_document, smtp):
    make_document(world.indicator, world.reporter)
    notifications.mark_read(world.receiver)
    smtp.start()
    assert send(app).exit_code == 0
    assert smtp.messages == []


def test_a_second_run_while_one_holds_the_lock_sends_nothing(app, world, make_document, smtp):
    make_document(world.indicator, world.reporter)
    smtp.start()
    with notifications.sender_lock():
        busy = send(app)
    assert busy.exit_code == 0 and "ทำงานอยู่" in busy.output
    assert smtp.messages == []
    assert send(app).exit_code == 0 and len(smtp.messages) == 1


# Deadline reminders ------------------------------------------------------------------------


def due_in(indicator, days, months=6):
    row = round_of(indicator.fiscal_year, months)
    row.due_date = bangkok_date(now_utc()) + timedelta(days=days)
    db.session.commit()


def remind(app):
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    return result


def test_reminders_run_twice_queue_once(app, world):
    due_in(world.indicator, 7)
    remind(app)
    remind(app)
    (reminder,) = rows(world.reporter, "deadline_coming")
    text = notifications.describe(reminder)
    assert world.indicator.code in text and "รอบ 6 เดือน" in text and "อีก 7 วัน" in text
    # The other indicator's reporter is reminded of theirs (same round, nothing sent).
    assert len(rows(world.other_reporter, "deadline_coming")) == 1


def test_reminders_seven_days_and_one_day_before(app, world):
    """Days pass (the service is given 'today'); the due date stays."""
    due_in(world.indicator, 10)
    today = bangkok_date(now_utc())

    def reminders_on(day_offset):
        notifications.queue_reminders(today + timedelta(days=day_offset))
        return [n.params for n in rows(world.reporter, "deadline_coming")]

    assert reminders_on(0) == []  # 10 days ahead
    assert len(reminders_on(7)) == 1  # 3 days ahead: the 7-day run was missed, still reminds
    assert len(reminders_on(8)) == 1  # 2 days ahead: already reminded
    assert len(reminders_on(9)) == 2  # the day before
    assert len(reminders_on(9)) == 2
    assert len(reminders_on(10)) == 2  # the due day: the 1-day reminder was sent
    assert len(reminders_on(11)) == 2  # past: nothing more
    seven, one = rows(world.reporter, "deadline_coming")
    assert '"days": 3' in seven.params and '"days": 1' in one.params


def test_a_new_due_date_earns_new_reminders(app, world):
    due_in(world.indicator, 7)
    remind(app)
    due_in(world.indicator, 6)  # the officer set another date: reminded for it too
    remind(app)
    assert len(rows(world.reporter, "deadline_coming")) == 2


def test_reminders_skip_indicators_with_something_sent(app, world, make_document):
    due_in(world.indicator, 7)
    make_document(world.indicator, world.reporter, months=6)
    remind(app)
    assert rows(world.reporter, "deadline_coming") == []


def test_reminders_skip_closed_years(app, world):
    due_in(world.indicator, 1)
    year = db.session.get(FiscalYear, world.indicator.fiscal_year)
    year.closed_at = utcnow()
    db.session.commit()
    remind(app)
    assert rows(kind="deadline_coming") == []


def test_reminders_are_emailed_like_any_event(app, world, smtp):
    due_in(world.indicator, 1)
    remind(app)
    smtp.start()
    assert send(app).exit_code == 0
    addresses = sorted(rcpt[0] for rcpt, _message in smtp.messages)
    assert f"reporter@{DOMAIN}" in addresses
    message = next(m for rcpt, m in smtp.messages if rcpt[0] == f"reporter@{DOMAIN}")
    assert "ยังไม่มีเอกสาร" in message.get_content()
    assert f"{PUBLIC_URL}/send/" in message.get_content()


def test_a_digest_speaks_the_readers_language(app, world, make_document, smtp):
    """Staff who chose English read their digest in English (here: its dates, in CE)."""
    if "en" not in app.config["LANGUAGES"]:
        pytest.skip("English is not compiled (make compiles it)")
    world.receiver.language = "en"
    db.session.commit()
    make_document(world.indicator, world.reporter)
    smtp.start()
    assert send(app).exit_code == 0
    body = smtp.messages[0][1].get_content()
    year = now_utc().year
    assert str(year) in body
    assert str(year + 543) not in body and str(year + 544) not in body  # no Buddhist era
