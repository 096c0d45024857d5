"""Stored script-like values never run: stored everywhere through the real forms, then every
page that shows them opened in Debian's Chromium as the people who see them.

Each page must fire no dialog, log no console error or page error (an inline script the CSP
blocked would log one too), and show the stored value as the literal text it is.
"""

import io
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Document, Indicator, User
from tests import figures
from tests.conftest import PASSWORD, Browser
from tests.test_browser import live_server, new_page  # noqa: F401 (fixtures used below)

pytestmark = pytest.mark.browser

ALERT = "<img src=x onerror=alert(1)>"
BREAKOUT = '"><script>alert(2)</script>'
JS_URL = "javascript:alert(3)"
TEMPLATE = "{{7*7}} ${7*7} #{7*7}"
TITLE_BREAK = "</title><script>alert(4)</script>"
SVG = "'><svg onload=alert(5)>"
TEXTAREA = "</textarea><script>alert(6)</script>"
PAYLOADS = (ALERT, BREAKOUT, JS_URL, TEMPLATE, TITLE_BREAK, SVG, TEXTAREA)


def form(b: Browser, endpoint, data, files=None, **values):
    data = {"csrf_token": b.csrf_token(), **data, **(files or {})}
    response = b.open(b.url(endpoint, **values), method="POST", data=data)
    assert response.status_code in (200, 302), (endpoint, response.get_data(as_text=True)[:2000])
    return response


def store_everywhere(app, world, login_as) -> dict:
    """Every text a user can store, set to script-like values through the real routes."""
    officer = login_as(world.officer)
    # Accounts: full names and positions, typed and imported.
    for i, payload in enumerate(PAYLOADS):
        form(officer, "auth.accounts", {"username": f"xss{i}", "full_name": f"ชื่อ {payload}",
             "position": f"กลุ่ม {payload}", "password": PASSWORD})  # fmt: skip
    rows = ["username,ชื่อ-นามสกุล,กลุ่มงาน"]
    rows += [
        f'imp{i},"นำเข้า {p.replace(chr(34), chr(34) * 2)}",กลุ่ม {i}' for i, p in enumerate(PAYLOADS)
    ]
    csv = ("\n".join(rows) + "\n").encode()
    preview = form(officer, "auth.import_staff", {}, {"file": (io.BytesIO(csv), "บุคลากร.csv")})
    digest = re.search(
        r'name="digest" (?:type="hidden" )?value="([0-9a-f]+)"', preview.get_data(True)
    )
    form(officer, "auth.confirm_import", {"digest": digest.group(1)})
    # Indicators: code and name (the code has its own rules; a refused code is fine).
    year = world.indicator.fiscal_year
    for i, payload in enumerate(PAYLOADS):
        data = {"fiscal_year": str(year), "category": "KRS", "code": f"{i + 3}.{payload}"[:32],
                "name": f"ตัวชี้วัด {payload}", "receiver": str(world.receiver.id),
                "reporters": [str(world.reporter.id)]}  # fmt: skip
        response = officer.open(officer.url("indicators.create"), method="POST",
                                data={"csrf_token": officer.csrf_token(), **data})  # fmt: skip
        if response.status_code != 302:  # the code refused: the name is still stored
            data["code"] = f"{i + 3}.1"
            form(officer, "indicators.create", data)
    form(officer, "indicators.edit", {"fiscal_year": str(year), "category": "KRS",
         "code": world.indicator.code, "name": f"แก้แล้ว {BREAKOUT}",
         "receiver": str(world.receiver.id), "reporters": [str(world.reporter.id)]},
         indicator_id=world.indicator.id)  # fmt: skip
    # Documents: titles and file names, one returned with a reason (a notification too).
    reporter = login_as(world.reporter)
    names = [f"{p}.pdf" for p in PAYLOADS] + ["<svg onload=alert(7)>.pdf"]
    for i, name in enumerate(names):
        reporter.upload(world.indicator, title=f"รายการ {PAYLOADS[i % len(PAYLOADS)]}", name=name)
    documents = db.session.scalars(db.select(Document).order_by(Document.id)).all()
    db.session.commit()
    receiver = login_as(world.receiver)
    form(receiver, "receive.return_document", {"reason": f"เหตุผล {ALERT} {TITLE_BREAK}"},
         document_id=documents[0].id)  # fmt: skip
    form(receiver, "receive.store", {}, document_id=documents[1].id)
    form(officer, "receive.undo", {"reason": f"ยกเลิก {SVG}"}, document_id=documents[1].id)
    # Audit entries from the outside: a failed login under a script-like user name.
    Browser(app).post("auth.login", {"username": ALERT[:60], "password": "x"})
    return {"returned": documents[0].id, "document": documents[2].id}


def pages(app, world, ids) -> list[tuple[str, str, str | None]]:
    """(who, path, a stored value the page must show as text)."""
    other = db.session.scalar(db.select(Indicator.id).where(Indicator.name.like("ตัวชี้วัด %")))
    db.session.commit()
    url = Browser(app).url
    round_page = {"months": 6, "indicator_id": world.indicator.id}
    return [
        ("officer", url("auth.index"), None),
        ("officer", url("auth.accounts"), f"ชื่อ {ALERT}"),
        ("officer", url("auth.accounts", q="xss"), f"กลุ่ม {BREAKOUT}"),
        ("officer", url("roles.staff"), None),
        ("officer", url("roles.staff", q="นำเข้า"), f"นำเข้า {TITLE_BREAK}"),
        ("officer", url("indicators.index"), f"ตัวชี้วัด {TEXTAREA}"),
        ("officer", url("indicators.edit", indicator_id=world.indicator.id), None),
        ("officer", url("indicators.edit", indicator_id=other or world.indicator.id), None),
        ("officer", url("indicators.create"), None),  # staff names in the pickers
        ("officer", url("auth.import_staff"), None),
        ("officer", url("auth.change_password"), None),
        ("officer", url("years.index"), None),
        ("officer", url("audit.index"), None),
        ("officer", url("receive.index"), None),
        ("officer", url("receive.round_page", months=6), None),
        ("officer", url("receive.indicator_page", **round_page), f"รายการ {ALERT}"),
        ("officer", url("receive.summary", months=6), None),
        ("officer", url("receive.history", document_id=ids["returned"]), f"เหตุผล {ALERT}"),
        ("officer", url("notifications.index"), None),
        ("officer", url("menu.menu_html"), None),
        ("receiver", url("receive.index"), None),
        ("receiver", url("receive.indicator_page", **round_page), f"รายการ {SVG}"),
        ("receiver", url("notifications.index"), None),
        ("reporter", url("auth.index"), None),
        ("reporter", url("send.index"), f"รายการ {JS_URL}"),
        ("reporter", url("send.attach", indicator_id=world.indicator.id), None),
        ("reporter", url("send.edit", document_id=ids["document"]), None),
        ("reporter", url("send.revise", document_id=ids["returned"]), None),
        ("reporter", url("notifications.index"), None),
        ("reporter", url("receive.history", document_id=ids["returned"]), None),
        ("reporter", url("menu.menu_html"), None),
    ]


def watch(page, dialogs: list, errors: list) -> None:
    page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
    page.on("console", lambda m: console_error(m) and errors.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))


def console_error(message) -> bool:
    """An error logged on the page; the browser's own request for /favicon.ico (the portal's
    pages have none to offer) is not one of the page's."""
    url = (message.location or {}).get("url", "")
    return message.type == "error" and not url.endswith("/favicon.ico")


def test_stored_script_like_values_never_run_in_chromium(
    app,
    world,
    login_as,
    live_server,  # noqa: F811
    new_page,  # noqa: F811
):
    ids = store_everywhere(app, world, login_as)
    people = {"officer": world.officer.username, "receiver": world.receiver.username,
              "reporter": world.reporter.username}  # fmt: skip
    to_open = pages(app, world, ids)
    db.session.commit()  # hold no lock while the server writes (SQLite)
    base = live_server()
    origin = base.split(app.config["URL_PREFIX"])[0]
    dialogs, errors, opened = [], [], 0
    for who in ("officer", "receiver", "reporter"):
        page = new_page()
        watch(page, dialogs, errors)
        page.goto(base + "login")  # the login form, as staff use it
        page.get_by_label("ชื่อผู้ใช้", exact=True).fill(people[who])
        page.get_by_label("รหัสผ่าน", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="เข้าระบบ", exact=True).click()
        page.wait_for_load_state("load")
        for role, path, shown in to_open:
            if role != who:
                continue
            response = page.goto(origin + path)
            assert response.status < 400, (who, path, response.status)
            page.wait_for_load_state("load")
            page.mouse.move(5, 5)  # hover/focus handlers would fire now
            page.keyboard.press("Tab")
            opened += 1
            if shown:
                expect(page.locator("body")).to_contain_text(shown)
            assert page.evaluate("typeof window.__xss") == "undefined"
    figures.add("xss_pages", opened)
    figures.add("xss_executed", len(dialogs))
    assert not dialogs, dialogs
    assert not errors, errors
    assert opened >= 30
    # The values really are stored (not refused on the way in).
    assert db.session.scalar(db.select(User).filter_by(username="xss0")).full_name == f"ชื่อ {ALERT}"
    db.session.commit()


# GET routes that show no stored text as a page: the login form (nobody's data), the portal's
# hand-off (a redirect), JSON for the portal's server, and files, which are always downloaded
# (tests/test_headers.py), never shown.
NOT_PAGES = {
    "auth.login",
    "auth.handoff",
    "menu.menu_json",
    "receive.download",
    "receive.export_indicator",
    "receive.export_round",
    "receive.status_report",
    "static",
}


def test_every_page_is_opened_by_the_browser_test(app, world):
    """A new page that may show stored text must join pages() above, or NOT_PAGES with why."""
    adapter = app.url_map.bind("localhost", script_name=app.config["URL_PREFIX"])
    prefix = app.config["URL_PREFIX"]
    ids = {"returned": 1, "document": 1}
    opened = {adapter.match(path[len(prefix) :].split("?")[0])[0] for _who, path, _ in
              pages(app, world, ids)}  # fmt: skip
    get_routes = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    assert get_routes - NOT_PAGES - opened == set()
    assert NOT_PAGES <= get_routes  # no stale exemption
