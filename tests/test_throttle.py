"""Password guessing: refused per account and per address, before any hash, in every worker."""

import json
import logging
import re
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy.exc import OperationalError

import blueprints.auth.services as auth_services
import throttle
from errors import RuleError
from extensions import db
from models import AuditEntry, LoginThrottle
from tests import figures
from tests.conftest import IN_CI, PASSWORD, Browser
from thai import BANGKOK, now_utc

WRONG = "ผิด"
WRONG_PASSWORD = "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"
WRONG_CURRENT = "รหัสผ่านปัจจุบันไม่ถูกต้อง"
DATABASE_BUSY = "ฐานข้อมูลขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้งในอีกสักครู่"
TRY_AGAIN = re.compile(r"กรุณาลองใหม่หลังเวลา (\d\d):(\d\d) น\. \(อีกประมาณ (\d+) นาที\)")
REDIS_URL = "redis://127.0.0.1:6379/13"
REDIS_DOWN = "redis://127.0.0.1:1/0"


class CountingHasher(PasswordHasher):
    """The real argon2id (cheap parameters, as in conftest), counting every hash computed."""

    def __init__(self):
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self.lock = threading.Lock()

    def verify(self, hash, password):
        with self.lock:
            self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hashes(monkeypatch):
    hasher = CountingHasher()
    monkeypatch.setattr(auth_services, "hasher", hasher)
    return hasher


def try_again_at(response) -> tuple[datetime, int]:
    """The Bangkok clock time and minutes the refusal names."""
    match = TRY_AGAIN.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:2000]
    now = now_utc().astimezone(BANGKOK)
    shown = now.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
    if shown < now - timedelta(minutes=1):
        shown += timedelta(days=1)  # after midnight in Bangkok
    return shown, int(match[3])


def assert_refused_until_the_time_shown(response, seconds: int):
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert seconds - 30 <= retry_after <= seconds  # the lock began a moment ago
    shown, minutes = try_again_at(response)
    unlocked = now_utc() + timedelta(seconds=retry_after)
    # The clock time is never early, and at most a minute (plus rounding) late; the slack
    # below zero is only the time since the server answered, on a busy machine.
    assert timedelta(seconds=-30) <= shown - unlocked <= timedelta(seconds=120)
    assert minutes == -(-retry_after // 60)


def throttled_entries(kind: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(AuditEntry).where(AuditEntry.action == f"login_throttled_{kind}")
        )
    )


def test_a_sixth_guess_is_refused_with_the_time_to_try_again(browser, make_user, hashes):
    make_user(username="somchai")
    for _ in range(5):
        response = browser.login("somchai", WRONG)
        assert response.status_code == 400 and WRONG_PASSWORD in response.get_data(as_text=True)
    assert hashes.verified == 5
    refused = 0
    for password in (WRONG, PASSWORD, WRONG, PASSWORD, WRONG):  # even the right one waits
        response = browser.login("somchai", password)
        assert_refused_until_the_time_shown(response, 15 * 60)
        refused += 1
    assert browser.get("auth.index").status_code == 302  # still not logged in
    # Refused before any password was hashed: guessing costs the server nothing more.
    assert hashes.verified == 5
    figures.add("login_throttled", refused)


def test_unknown_usernames_are_refused_the_same_way(browser, make_user, hashes):
    make_user(username="somchai")
    for _ in range(5):
        assert browser.login("nobody", WRONG).status_code == 400
    assert hashes.verified == 5  # the dummy hash, as slow as a real one
    response = browser.login("NoBody ", WRONG)  # as the account lookup would normalize it
    assert_refused_until_the_time_shown(response, 15 * 60)
    assert hashes.verified == 5
    # Other accounts from the same desk are not affected by one account's lock.
    assert browser.login("somchai").status_code == 302


def test_the_lock_ends_after_its_time(make_app, make_user):
    app = make_app(LOGIN_ACCOUNT_WINDOW_MINUTES=0.05, LOGIN_ACCOUNT_LOCK_MINUTES=0.05)
    make_user(username="somchai")
    b = Browser(app)
    for _ in range(5):
        assert b.login("somchai", WRONG).status_code == 400
    assert b.login("somchai").status_code == 429
    time.sleep(3.2)  # the 3-second lock (0.05 minutes) has passed
    assert b.login("somchai").status_code == 302


def test_a_success_clears_the_accounts_count(browser, make_user):
    make_user(username="somchai")
    for _ in range(4):
        assert browser.login("somchai", WRONG).status_code == 400
    assert browser.login("somchai").status_code == 302
    browser.post("auth.logout")
    for _ in range(4):  # a fresh five tries, not one
        assert browser.login("somchai", WRONG).status_code == 400
    assert browser.login("somchai").status_code == 302


def test_one_address_is_limited_across_usernames_and_a_success_does_not_reset_it(
    make_app, make_user
):
    app = make_app(LOGIN_ADDRESS_FAILURES=6)
    make_user(username="somchai")
    make_user(username="somsri")
    guesser = Browser(app)
    for n in range(4):
        assert guesser.login(f"guess{n}", WRONG).status_code == 400
    assert guesser.login("somsri").status_code == 302  # a colleague behind the same NAT
    guesser.post("auth.logout")
    for n in range(2):
        assert guesser.login(f"more{n}", WRONG).status_code == 400
    response = guesser.login("somchai")  # a new name, the right password: the address waits
    assert_refused_until_the_time_shown(response, 15 * 60)
    elsewhere = Browser(app)
    elsewhere.address = "198.51.100.7"
    assert elsewhere.login("somchai").status_code == 302
    (entry,) = throttled_entries("address")
    assert entry.ip == Browser.address
    assert json.loads(entry.params)["username"] == "somchai"


def test_an_ipv6_client_is_counted_by_its_whole_network(make_app, make_user):
    app = make_app(LOGIN_ADDRESS_FAILURES=3)
    make_user(username="somchai")
    for n in range(3):
        b = Browser(app)
        b.address = f"2001:db8:1:2::{n + 1}"  # a new address from the same /64 each time
        assert b.login(f"guess{n}", WRONG).status_code == 400
    b = Browser(app)
    b.address = "2001:db8:1:2:ffff::9"
    assert b.login("somchai").status_code == 429
    b.address = "2001:db8:1:3::1"  # another network
    assert b.login("somchai").status_code == 302


def test_the_throttle_is_audited_once_per_lock_with_the_address(browser, make_user):
    user = make_user(username="somchai")
    for _ in range(5):
        browser.login("somchai", WRONG)
    for _ in range(3):
        assert browser.login("somchai").status_code == 429
    (entry,) = throttled_entries("account")
    assert entry.ip == Browser.address and entry.object_id == user.id
    assert json.loads(entry.params) == {"username": "somchai", "minutes": 15}
    from audit import describe

    assert describe(entry) == (
        "งดรับการเข้าระบบของชื่อผู้ใช้ somchai ชั่วคราว 15 นาที เพราะใส่รหัสผ่านผิดหลายครั้ง"
    )


def test_an_admins_reset_lifts_the_lock(app, login_as, make_user):
    user = make_user(username="somchai")
    admin = login_as(make_user(admin=True))
    owner = Browser(app)
    owner.address = "198.51.100.20"
    for _ in range(5):
        owner.login("somchai", WRONG)
    assert owner.login("somchai").status_code == 429
    assert (
        admin.post("auth.reset_password", {"new": "ตั้งใหม่-1234"}, user_id=user.id).status_code == 302
    )
    assert owner.login("somchai", "ตั้งใหม่-1234").status_code == 302


def test_every_worker_sees_the_same_count(make_app, make_user):
    """Two apps on one database, as two gunicorn workers: neither counts alone."""
    first, second = make_app(), make_app()
    make_user(username="somchai")
    for app, guesses in ((first, 3), (second, 2)):
        b = Browser(app)
        for _ in range(guesses):
            assert b.login("somchai", WRONG).status_code == 400
    assert Browser(first).login("somchai").status_code == 429


def guess_in_parallel(app, usernames: list[str], address: str) -> list[int]:
    """One thread per guess, all released at once; each answer's HTTP status."""
    barrier = threading.Barrier(len(usernames), timeout=60)
    statuses: list[int] = []

    def guess(username):
        with app.app_context():
            barrier.wait()
            try:
                auth_services.authenticate(username, WRONG, address)
            except RuleError as error:
                statuses.append(error.status)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=guess, args=(name,)) for name in usernames]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(statuses) == len(usernames)
    return statuses


def test_parallel_guesses_at_one_account_all_count(app, make_user, hashes):
    make_user(username="somchai")
    db.session.commit()
    statuses = guess_in_parallel(app, ["somchai"] * 20, "192.0.2.50")
    # Exactly five were checked; none slipped in while another was being counted.
    assert sorted(statuses) == [400] * 5 + [429] * 15
    assert hashes.verified == 5
    assert Browser(app).login("somchai").status_code == 429


def test_parallel_guesses_from_one_address_all_count(make_app, make_user, hashes):
    app = make_app(LOGIN_ADDRESS_FAILURES=10)
    make_user(username="somchai")
    db.session.commit()
    statuses = guess_in_parallel(app, [f"guess{n}" for n in range(25)], Browser.address)
    assert sorted(statuses) == [400] * 10 + [429] * 15
    assert hashes.verified == 10
    assert Browser(app).login("somchai").status_code == 429


@pytest.mark.parametrize(
    "usernames",
    [["somchai"] * 40, [f"guess{n}" for n in range(40)]],
    ids=["one-account", "forty-accounts"],
)
def test_forty_parallel_logins_from_one_address_all_answer_and_count_exactly(
    app, make_user, hashes, usernames
):
    """MariaDB deadlocks on the count's row and SQLite is busy under this: every guess must
    still get its answer (a 400 or a 429, never a server error) and be counted once."""
    make_user(username="somchai")
    db.session.commit()
    statuses = guess_in_parallel(app, usernames, "192.0.2.60")
    limit = 5 if len(set(usernames)) == 1 else 30  # the account's limit, or the address's
    assert sorted(statuses) == [400] * limit + [429] * (40 - limit)
    assert hashes.verified == limit


def fail_throttle_writes(monkeypatch, times: int) -> list[float]:
    """The next `times` writes to the counts fail as a MariaDB deadlock does; the pauses
    between retries are recorded instead of slept."""
    real = db.session.execute
    left = [times]

    def execute(statement, *args, **kwargs):
        table = getattr(statement, "table", None)  # inserts, updates and deletes have one
        if table is not None and table.name == LoginThrottle.__tablename__ and left[0] > 0:
            left[0] -= 1
            raise OperationalError(
                "INSERT INTO login_throttles ...", {}, Exception("1213 Deadlock found")
            )
        return real(statement, *args, **kwargs)

    pauses: list[float] = []
    monkeypatch.setattr(db.session, "execute", execute)
    monkeypatch.setattr(throttle, "time", type("Clock", (), {"sleep": staticmethod(pauses.append)}))
    return pauses


def test_a_colliding_count_is_retried_after_a_short_random_pause(browser, make_user, monkeypatch):
    make_user(username="somchai")
    pauses = fail_throttle_writes(monkeypatch, times=3)
    assert browser.login("somchai", WRONG).status_code == 400
    assert len(pauses) == 3
    # Growing, random bounds: parallel logins that collided do not collide again in step.
    for attempt, pause in enumerate(pauses):
        assert 0 <= pause <= throttle.DatabaseStore.PAUSE * 2**attempt
    for _ in range(4):  # the retried guess was counted once: four more reach the limit
        assert browser.login("somchai", WRONG).status_code == 400
    assert browser.login("somchai").status_code == 429


def test_a_count_that_cannot_be_written_asks_to_try_again_in_thai(browser, make_user, monkeypatch):
    make_user(username="somchai")
    pauses = fail_throttle_writes(monkeypatch, times=10_000)
    response = browser.login("somchai")
    assert response.status_code == 503  # not the 500 of an unhandled OperationalError
    assert DATABASE_BUSY in response.get_data(as_text=True)
    assert len(pauses) == throttle.DatabaseStore.TRIES - 1
    assert browser.get("auth.index").status_code == 302  # not logged in


# --- changing one's own password --------------------------------------------------------


def change(browser: Browser, current: str, new: str = "ตั้งใหม่-1234"):
    return browser.post("auth.change_password", {"current": current, "new": new, "confirm": new})


def test_guessing_the_current_password_is_throttled_with_the_login(
    app, login_as, make_user, hashes
):
    """A stolen session must not try current passwords without limit."""
    stolen = login_as(make_user(username="somchai"))
    verified = hashes.verified
    for _ in range(5):
        response = change(stolen, WRONG)
        assert response.status_code == 400
        assert WRONG_CURRENT in response.get_data(as_text=True)
    assert hashes.verified == verified + 5
    response = change(stolen, PASSWORD)  # even the right one waits
    assert_refused_until_the_time_shown(response, 15 * 60)
    assert hashes.verified == verified + 5  # refused before any hash
    # One count with the login's: the guesses cannot be spread over both forms.
    owner = Browser(app)
    owner.address = "198.51.100.40"
    assert owner.login("somchai").status_code == 429
    assert len(throttled_entries("account")) == 1


def test_the_right_current_password_clears_the_accounts_count(login_as, make_user):
    b = login_as(make_user(username="somchai"))
    for _ in range(4):
        assert change(b, WRONG).status_code == 400
    assert change(b, PASSWORD).status_code == 302
    for _ in range(5):  # a fresh five tries, not one
        assert change(b, WRONG).status_code == 400
    assert change(b, "ตั้งใหม่-1234", "ตั้งใหม่-5678").status_code == 429  # and no more


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_app(make_app):
    """An app counting in Redis database 13 under its own prefix; its keys go afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {error}")
    prefix = f"reports-test-{uuid.uuid4().hex}:"

    def build(**overrides):
        return make_app(REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix, **overrides)

    build.keys = lambda: sorted(k.decode() for k in client.scan_iter(prefix + "*"))
    yield build
    keys = list(client.scan_iter(prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def table_rows() -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(LoginThrottle))


def test_with_redis_the_counts_live_there_for_every_worker(redis_app, make_user, hashes):
    first, second = redis_app(), redis_app()
    make_user(username="somchai")
    for app, guesses in ((first, 3), (second, 2)):
        b = Browser(app)
        for _ in range(guesses):
            assert b.login("somchai", WRONG).status_code == 400
    response = Browser(first).login("somchai")
    assert_refused_until_the_time_shown(response, 15 * 60)
    assert hashes.verified == 5
    assert len(redis_app.keys()) == 2  # the account's count and the address's
    assert table_rows() == 0
    assert len(throttled_entries("account")) == 1


def test_with_redis_parallel_guesses_all_count(redis_app, make_user, hashes):
    app = redis_app()
    make_user(username="somchai")
    db.session.commit()
    statuses = guess_in_parallel(app, ["somchai"] * 20, "192.0.2.50")
    assert sorted(statuses) == [400] * 5 + [429] * 15
    assert hashes.verified == 5


def test_with_redis_an_admins_reset_and_a_success_clear_the_account(redis_app, make_user, login_as):
    app = redis_app()
    user = make_user(username="somchai")
    b = Browser(app)
    for _ in range(4):
        b.login("somchai", WRONG)
    assert b.login("somchai").status_code == 302
    b.post("auth.logout")
    for _ in range(5):
        assert b.login("somchai", WRONG).status_code == 400
    assert b.login("somchai").status_code == 429
    admin = Browser(app)
    admin.address = "198.51.100.30"
    admin.login(make_user(admin=True).username)
    admin.post("auth.reset_password", {"new": "ตั้งใหม่-1234"}, user_id=user.id)
    assert b.login("somchai", "ตั้งใหม่-1234").status_code == 302


def test_when_redis_is_down_the_database_counts_and_logins_work(make_app, make_user, caplog):
    app = make_app(REDIS_URL=REDIS_DOWN)
    make_user(username="somchai")
    b = Browser(app)
    with caplog.at_level(logging.WARNING, logger="throttle"):
        assert b.login("somchai").status_code == 302
        b.post("auth.logout")
        for _ in range(5):
            assert b.login("somchai", WRONG).status_code == 400
        assert b.login("somchai").status_code == 429
    assert table_rows() == 2
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
