"""Failed logins counted per account and per address, shared by every worker, checked before
any password hash is computed.

Each attempt first takes its place in both counts (an atomic increment), and is refused if
that place is beyond the limit: guesses sent in parallel cannot all slip in while the count
is read, and a refused guess costs no argon2 work. A wrong password leaves its place taken;
the limit-th one holds the count for the lock's length. A right password clears the
account's count and gives back its place in the address's (an office shares one address).

The counts live in Redis when REDIS_URL is set, else in the login_throttles table; while
Redis cannot be reached they fall back to the table (logged), so logins keep working and
guessing stays limited.
"""

import hashlib
import ipaddress
import logging
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from errors import RuleError
from extensions import db
from models import LoginThrottle, UTCDateTime
from text import clean_text
from thai import BANGKOK, now_utc

log = logging.getLogger(__name__)

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class Rule:
    kind: str
    failures: int
    window: int  # seconds: the count starts over this long after its first failure
    lock: int  # seconds: the limit-th failure holds the count at least this long


def rules() -> dict[str, Rule]:
    config = current_app.config

    def rule(kind: str, prefix: str) -> Rule:
        return Rule(
            kind,
            int(config[f"{prefix}_FAILURES"]),
            int(float(config[f"{prefix}_WINDOW_MINUTES"]) * 60),
            int(float(config[f"{prefix}_LOCK_MINUTES"]) * 60),
        )

    return {ACCOUNT: rule(ACCOUNT, "LOGIN_ACCOUNT"), ADDRESS: rule(ADDRESS, "LOGIN_ADDRESS")}


def normal_username(username: str) -> str:
    """As find_by_username looks it up: unknown names are counted like known ones."""
    return clean_text(username or "").strip().lower()


def normal_address(address: str | None) -> str | None:
    """An IPv6 client owns its whole /64; counting single addresses there would count nothing."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def key_of(kind: str, value: str) -> str:
    # Hashed: any length or character a guesser types fits the column, and no collation
    # (MariaDB's ignores trailing spaces) can merge two names.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:64]}"


class Throttled(RuleError):
    """429 with when to try again: a Bangkok clock time and the minutes left."""

    def __init__(self, rule: Rule, count: int, seconds_left: float):
        self.kind = rule.kind
        # Only the first refusal of a lock is audited: refusals cost the guesser nothing,
        # and the append-only trail must not grow at their pace.
        self.first = count == rule.failures + 1
        self.retry_after = max(1, math.ceil(seconds_left))
        self.minutes = math.ceil(self.retry_after / 60)
        # Rounded up to the minute, so trying again at the time shown always works.
        until = now_utc() + timedelta(seconds=self.retry_after + 59)
        clock = until.astimezone(BANGKOK).strftime("%H:%M")
        super().__init__(
            _l(
                "เข้าระบบไม่สำเร็จหลายครั้ง ระบบจึงงดรับการเข้าระบบชั่วคราว "
                "กรุณาลองใหม่หลังเวลา %(time)s น. (อีกประมาณ %(minutes)s นาที)",
                time=clock,
                minutes=self.minutes,
            ),
            status=429,
        )


class Attempt:
    """One login attempt's places in the counts; tell it how the password check went."""

    def __init__(self, taken: list[tuple[Rule, str, int]]):
        self.taken = taken

    def failed(self) -> None:
        for rule, key, count in self.taken:
            if count >= rule.failures:
                store_call("lock", key, rule.lock)

    def succeeded(self) -> None:
        for rule, key, _count in self.taken:
            store_call("clear" if rule.kind == ACCOUNT else "release", key)


def begin(username: str, address: str | None) -> Attempt:
    """Take this attempt's places, or raise Throttled (before any password is hashed)."""
    limits = rules()
    wanted = [(limits[ACCOUNT], key_of(ACCOUNT, normal_username(username)))]
    address = normal_address(address)
    if address:
        wanted.append((limits[ADDRESS], key_of(ADDRESS, address)))
    taken: list[tuple[Rule, str, int]] = []
    for rule, key in wanted:
        try:
            count, seconds_left = store_call("reserve", key, rule.window)
        except RuleError:  # the database too busy even after retries: not a guess to count
            for _rule, earlier, _count in taken:
                store_call("release", earlier)
            raise
        if count > rule.failures:
            # The account's place goes back: a guesser refused by address must not use up
            # someone else's tries. The refused place itself stays (it marks the refusal
            # after the first, and never extends the lock).
            for _rule, earlier, _count in taken:
                store_call("release", earlier)
            raise Throttled(rule, count, seconds_left)
        taken.append((rule, key, count))
    return Attempt(taken)


def clear_account(username: str) -> None:
    """An admin set a new password: its owner may log in at once."""
    store_call("clear", key_of(ACCOUNT, normal_username(username)))


# --- where the counts live --------------------------------------------------------------


def store_call(operation: str, *args):
    redis_store = redis_for_app()
    if redis_store is not None:
        import redis

        try:
            return getattr(redis_store, operation)(*args)
        except redis.RedisError as error:
            log.warning("login throttle: Redis unreachable (%s); counting in the database", error)
    return getattr(DatabaseStore, operation)(*args)


def redis_for_app():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    stores = current_app.extensions.setdefault("reports_throttle", {})
    if url not in stores:
        stores[url] = RedisStore(url, current_app.config["REDIS_PREFIX"] + "throttle:")
    return stores[url]


class RedisStore:
    # Scripts run atomically in Redis: no other worker's command lands between their steps.
    RESERVE = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
    LOCK = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
"""
    RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
end
"""

    def __init__(self, url: str, prefix: str):
        import redis

        # Short timeouts: a Redis that hangs must not hold the login page while we wait.
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.prefix = prefix
        self.reserve_script = self.client.register_script(self.RESERVE)
        self.lock_script = self.client.register_script(self.LOCK)
        self.release_script = self.client.register_script(self.RELEASE)

    def reserve(self, key: str, window: int) -> tuple[int, float]:
        count, ttl = self.reserve_script(keys=[self.prefix + key], args=[window * 1000])
        return int(count), int(ttl) / 1000

    def lock(self, key: str, seconds: int) -> None:
        self.lock_script(keys=[self.prefix + key], args=[seconds * 1000])

    def release(self, key: str) -> None:
        self.release_script(keys=[self.prefix + key])

    def clear(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def _at(moment: datetime):
    return literal(moment, UTCDateTime())


class DatabaseStore:
    """Each operation is its own committed transaction: the count is visible to every worker
    before the password is checked. A collision (MariaDB's deadlock on one key, SQLite busy,
    a serialization failure) is retried from the start after a short random pause, so
    parallel logins do not collide again in step; if they still cannot get through, the user
    is asked to try again in a moment (503), never shown a server error."""

    TRIES = 8
    PAUSE = 0.02  # seconds: the first pause's upper bound, doubled on each retry

    @classmethod
    def run(cls, operation):
        db.session.commit()  # nothing of the caller's rides along, and no old snapshot
        for attempt in range(cls.TRIES):
            try:
                result = operation()
                db.session.commit()
                return result
            except (IntegrityError, OperationalError) as error:
                db.session.rollback()
                if attempt == cls.TRIES - 1:
                    log.warning("login throttle: gave up after %s tries: %s", cls.TRIES, error)
                    raise RuleError(
                        _l("ฐานข้อมูลขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้งในอีกสักครู่"), status=503
                    ) from error
                time.sleep(random.uniform(0, cls.PAUSE * 2**attempt))  # nosec B311: jitter, no secret
        return None

    @classmethod
    def reserve(cls, key: str, window: int) -> tuple[int, float]:
        now = now_utc()
        ends = now + timedelta(seconds=window)
        expired = LoginThrottle.expires_at <= _at(now)
        count, until = LoginThrottle.failures, LoginThrottle.expires_at
        # One statement, insert or bump: no window between a failed update and the insert
        # for a parallel first failure to collide in. Ordered: MariaDB assigns left to
        # right, each seeing the ones before; the count must be decided on the old
        # expires_at, so it comes first.
        assignments = [
            (count.key, case((expired, 1), else_=count + 1)),
            (until.key, case((expired, _at(ends)), else_=until)),
        ]
        dialect = db.session.get_bind().dialect.name
        if dialect in ("mysql", "mariadb"):
            upsert = mysql.insert(LoginThrottle).values(key=key, failures=1, expires_at=ends)
            upsert = upsert.on_duplicate_key_update(assignments)
        else:
            module = postgresql if dialect == "postgresql" else sqlite
            upsert = module.insert(LoginThrottle).values(key=key, failures=1, expires_at=ends)
            upsert = upsert.on_conflict_do_update(
                index_elements=[LoginThrottle.key], set_=dict(assignments)
            )

        def operation():
            db.session.execute(upsert)
            return db.session.execute(
                select(LoginThrottle.failures, LoginThrottle.expires_at).where(
                    LoginThrottle.key == key
                )
            ).one()

        count, expires_at = cls.run(operation)
        if count == 1:  # a new count (or one started over): time to sweep the old ones
            cls.prune(now)
        return count, (expires_at - now).total_seconds()

    @classmethod
    def prune(cls, now: datetime) -> None:
        """Counts that ran out go when a new one comes, so sprayed usernames do not pile up."""
        try:
            db.session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at < _at(now)))
            db.session.commit()
        except OperationalError:  # another worker pruning the same rows; theirs will do
            db.session.rollback()

    @classmethod
    def lock(cls, key: str, seconds: int) -> None:
        until = now_utc() + timedelta(seconds=seconds)
        cls.run(
            lambda: db.session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key, LoginThrottle.expires_at < _at(until))
                .values(expires_at=_at(until))
            )
        )

    @classmethod
    def release(cls, key: str) -> None:
        cls.run(
            lambda: db.session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key, LoginThrottle.failures > 0)
                .values(failures=LoginThrottle.failures - 1)
            )
        )

    @classmethod
    def clear(cls, key: str) -> None:
        cls.run(lambda: db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key)))
