"""The look: My Office's echo by default, or the portal's own layout around our pages; no
inline script or style anywhere; the Content-Security-Policy and what REPORTS_CSP_EXTRA adds."""

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import Browser
from tests.test_queries import PAGES, GrowingWorld

ROOT = Path(__file__).resolve().parent.parent
PORTAL_LAYOUT = ROOT / "deploy" / "portal-layout" / "layout.html"
PORTAL_IDS = ("portal-header", "portal-menu", "portal-footer")
PREFIX = "/myoffice/reports"
OFFICE = "สำนักงานเขตพื้นที่การศึกษาประถมศึกษาเชียงใหม่ เขต 1"
PORTAL_URL = "https://portal.example/myoffice/"

# Not HTML (a file, JSON); menu.html is a fragment printed inside the portal's menu, with no
# layout of its own (it is still checked for inline code).
NOT_HTML = {"receive.download", "menu.menu_json"}
FRAGMENTS = {"menu.menu_html"}
HTML_PAGES = sorted(set(PAGES) - NOT_HTML)
LAID_OUT_PAGES = sorted(set(HTML_PAGES) - FRAGMENTS)

DEFAULT_POLICY = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}


def browser_for(app, world, role) -> Browser:
    """A browser on this app: anonymous (role None) or logged in as a world person."""
    browser = Browser(app)
    if role is not None:
        response = browser.login(getattr(world, role).username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser


@pytest.fixture
def page_args(world, make_document):
    """page_args(endpoint) -> (role, URL arguments) from test_queries' PAGES, on its world."""
    grown = GrowingWorld(world, make_document)

    def args(endpoint):
        role, url_args = PAGES[endpoint]
        return role, url_args(grown)

    return args


@pytest.fixture
def portal_app(make_app):
    return make_app(PORTAL_LAYOUT=str(PORTAL_LAYOUT), OFFICE_NAME=OFFICE)


def h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, "the page has no <h1>"
    return re.sub(r"\s+", " ", match.group(1)).strip()


def between(html: str, tag: str) -> str:
    match = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", html, re.S)
    return match.group(1) if match else ""


def error_responses(app, world):
    """The error pages as staff meet them: 404, 403, and a form whose CSRF token expired."""
    reporter = browser_for(app, world, "reporter")
    visitor = Browser(app)
    return {
        "404": (reporter.get(f"{PREFIX}/no-such-page"), 404),
        "403": (reporter.get("auth.accounts"), 403),
        "400 csrf": (reporter.post("auth.logout", csrf=False), 400),
        "404 anonymous": (visitor.get(f"{PREFIX}/no-such-page"), 404),
        "400 csrf anonymous": (
            visitor.post("auth.login", {"username": "x", "password": "y"}, csrf=False),
            400,
        ),
    }


# --- our own look, echoing My Office ---------------------------------------------------------


def assert_my_office_look(html: str, office: str | None, portal_url: str):
    header = between(html, "header")
    assert f'<a href="{portal_url}">My Office</a>' in header
    if office:
        assert f'<span class="office">{office}</span>' in header
    else:
        assert 'class="office"' not in header
    menu = re.search(r'<nav class="portal-menu"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert f'<a href="{portal_url}">หน้าแรก</a>' in menu
    assert f'<a href="{PREFIX}/"' in menu and "ระบบรายงานตัวชี้วัด" in menu
    footer = between(html, "footer")
    assert (office or "My Office") in footer
    assert "ระบบรายงานตัวชี้วัดตามคำรับรองการปฏิบัติราชการ" in footer
    assert not [i for i in PORTAL_IDS if f'id="{i}"' in html]


@pytest.mark.parametrize(
    ("role", "endpoint"),
    [(None, "auth.login"), ("receiver", "auth.index"), ("reporter", "send.index")],
)
def test_our_look_names_the_office_and_links_to_the_portal(make_app, world, role, endpoint):
    app = make_app(OFFICE_NAME=OFFICE, PORTAL_URL=PORTAL_URL)
    response = browser_for(app, world, role).get(endpoint)
    assert response.status_code == 200
    assert_my_office_look(response.get_data(as_text=True), OFFICE, PORTAL_URL)


def test_our_look_on_error_pages(make_app, world):
    app = make_app(OFFICE_NAME=OFFICE, PORTAL_URL=PORTAL_URL)
    for name, (response, status) in error_responses(app, world).items():
        assert response.status_code == status, name
        assert_my_office_look(response.get_data(as_text=True), OFFICE, PORTAL_URL)


def test_without_an_office_name_the_footer_says_my_office(app, world):
    html = browser_for(app, world, "staff").get("auth.index").get_data(as_text=True)
    assert_my_office_look(html, None, "/myoffice/")


def test_the_home_link_is_marked_current_on_the_home_page(app, world):
    html = browser_for(app, world, "staff").get("auth.index").get_data(as_text=True)
    assert f'<a href="{PREFIX}/" aria-current="page">' in html


def test_office_and_portal_url_come_from_the_environment(make_app, monkeypatch, world):
    monkeypatch.setenv("REPORTS_OFFICE_NAME", OFFICE)
    monkeypatch.setenv("REPORTS_PORTAL_URL", PORTAL_URL)
    html = Browser(make_app()).get("auth.login").get_data(as_text=True)
    assert_my_office_look(html, OFFICE, PORTAL_URL)


# --- the portal's layout ---------------------------------------------------------------------


def assert_dressed_by_the_portal(html: str, logged_in: bool):
    for portal_id in PORTAL_IDS:
        assert f'id="{portal_id}"' in html, f"{portal_id} missing"
    assert OFFICE in between(html, "footer") and "Paperless Office" in html
    # Our layout is replaced, not nested inside the portal's.
    assert '<header class="top">' not in html and '<footer class="bottom">' not in html
    head = between(html, "head")
    assert f'<link rel="stylesheet" href="{PREFIX}/static/reports.css">' in head
    assert f'<script src="{PREFIX}/static/reports.js" defer></script>' in head
    assert f'action="{PREFIX}/language"' in html  # the switch, from _user.html
    if logged_in:
        assert '<meta name="csrf-token" content="' in head
        assert f'action="{PREFIX}/logout"' in html
        assert 'class="menu"' in html  # the module's own menu


@pytest.mark.parametrize("endpoint", LAID_OUT_PAGES)
def test_portal_layout_dresses_every_page_around_our_content(
    app, portal_app, world, page_args, endpoint
):
    role, values = page_args(endpoint)
    ours = browser_for(app, world, role).get(endpoint, **values)
    dressed = browser_for(portal_app, world, role).get(endpoint, **values)
    assert ours.status_code == 200
    assert dressed.status_code == 200, dressed.get_data(as_text=True)[:1000]
    html = dressed.get_data(as_text=True)
    assert_dressed_by_the_portal(html, logged_in=role is not None)
    assert h1(html) == h1(ours.get_data(as_text=True))
    assert re.search(r'<main id="content"[^>]*>', html)
    if role is None:  # the login form carries its token without the meta tag
        assert 'name="csrf_token"' in html


def test_portal_layout_on_error_pages(portal_app, world):
    for name, (response, status) in error_responses(portal_app, world).items():
        assert response.status_code == status, name
        html = response.get_data(as_text=True)
        assert_dressed_by_the_portal(html, logged_in="anonymous" not in name)
        assert h1(html)


def test_portal_layout_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("REPORTS_PORTAL_LAYOUT", str(PORTAL_LAYOUT))
    monkeypatch.setenv("REPORTS_OFFICE_NAME", OFFICE)
    html = Browser(make_app()).get("auth.login").get_data(as_text=True)
    assert_dressed_by_the_portal(html, logged_in=False)


def test_messages_after_an_action_show_inside_the_portal_layout(portal_app, world):
    browser = browser_for(portal_app, world, "reporter")
    response = browser.post("auth.logout", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert_dressed_by_the_portal(html, logged_in=False)
    main = between(html, "main")
    assert 'class="flash flash-success"' in main and "ออกจากระบบเรียบร้อยแล้ว" in main


DECOYS = {
    "base.html": "DECOY base.html",
    "error.html": "DECOY error.html",
    "_head.html": "DECOY _head.html",
    "_user.html": "DECOY _user.html",
    "_module.html": "DECOY _module.html",
    "_flashes.html": "DECOY _flashes.html",
    "send/index.html": "DECOY send/index.html",
    "auth/login.html": "DECOY auth/login.html",
    "auth/index.html": "DECOY auth/index.html",
}


def test_portal_files_named_like_ours_never_replace_ours(make_app, tmp_path, world):
    """The portal's folder may hold anything; only the configured file is used, and its
    neighbours only as "portal/<name>". The configured file is even called layout.html."""
    folder = tmp_path / "portal-theme"
    shutil.copytree(PORTAL_LAYOUT.parent, folder)
    for name, marker in DECOYS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"<p>{marker}</p>\n")
    app = make_app(PORTAL_LAYOUT=str(folder / "layout.html"), OFFICE_NAME=OFFICE)

    responses = {
        "login": (Browser(app).get("auth.login"), "User Login"),
        "home": (browser_for(app, world, "receiver").get("auth.index"), None),
        "send": (browser_for(app, world, "reporter").get("send.index"), "ส่งเอกสารคำรับรอง"),
        "error": (browser_for(app, world, "reporter").get(f"{PREFIX}/nope"), None),
    }
    for name, (response, heading) in responses.items():
        html = response.get_data(as_text=True)
        assert "DECOY" not in html, f"{name}: {re.findall(r'DECOY [^<]*', html)}"
        assert_dressed_by_the_portal(html, logged_in=name != "login")
        if heading:
            assert heading in h1(html)


@pytest.mark.parametrize("where", ["missing.html", "no-such-folder/layout.html", ""])
def test_a_missing_portal_layout_refuses_to_start(make_app, tmp_path, where):
    path = tmp_path / where if where else tmp_path  # "" names a folder, not a file
    with pytest.raises(RuntimeError, match="PORTAL_LAYOUT"):
        make_app(PORTAL_LAYOUT=str(path))


# --- no inline code --------------------------------------------------------------------------


class InlineCode(HTMLParser):
    """What a Content-Security-Policy without 'unsafe-inline' would block on the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            if value and re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_same_origin_resources(html: str):
    """Scripts and stylesheets come from 'self' (a relative path), as the policy allows."""
    for attribute in re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"', html):
        assert attribute.startswith("/") and not attribute.startswith("//"), attribute


@pytest.mark.parametrize("layout", ["ours", "portal"])
@pytest.mark.parametrize("endpoint", HTML_PAGES)
def test_no_inline_script_or_style_on_any_page(app, make_app, world, page_args, endpoint, layout):
    site = app if layout == "ours" else make_app(PORTAL_LAYOUT=str(PORTAL_LAYOUT))
    role, values = page_args(endpoint)
    response = browser_for(site, world, role).get(endpoint, **values)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert inline_code(html) == []
    if endpoint not in FRAGMENTS:
        assert_same_origin_resources(html)


@pytest.mark.parametrize("layout", ["ours", "portal"])
def test_no_inline_script_or_style_on_error_pages(app, make_app, world, layout):
    site = app if layout == "ours" else make_app(PORTAL_LAYOUT=str(PORTAL_LAYOUT))
    for name, (response, status) in error_responses(site, world).items():
        assert response.status_code == status, name
        assert inline_code(response.get_data(as_text=True)) == [], name


def test_the_inline_check_sees_what_the_policy_blocks():
    """The checker itself: each kind of inline code is found, external files are not."""
    assert inline_code('<script src="/x.js"></script><link rel="stylesheet" href="/x.css">') == []
    found = inline_code(
        "<script>alert(1)</script><style>p{}</style>"
        '<p style="color:red">x</p><button onclick="go()">x</button>'
        '<a href=" JavaScript:go()">x</a><img src=x onerror=go() />'
    )
    assert len(found) == 6, found


# --- Content-Security-Policy -----------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            assert words[0] not in directives, f"{words[0]} twice in {header}"
            directives[words[0]] = words[1:]
    return directives


def test_default_policy_allows_only_our_own_files(app, world):
    responses = [
        Browser(app).get("auth.login"),
        browser_for(app, world, "reporter").get("send.index"),
        browser_for(app, world, "reporter").get(f"{PREFIX}/nope"),
    ]
    for response in responses:
        assert policy(response) == DEFAULT_POLICY
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_portal_layout_alone_does_not_widen_the_policy(portal_app):
    assert policy(Browser(portal_app).get("auth.login")) == DEFAULT_POLICY


def test_csp_extra_adds_exactly_the_sources_given(make_app, world):
    extra = "script-src https://portal.example; style-src 'self' 'unsafe-inline'; object-src https://x.example"
    app = make_app(CSP_EXTRA=extra, PORTAL_LAYOUT=str(PORTAL_LAYOUT))
    expected = {
        **DEFAULT_POLICY,
        # We have no script-src or style-src: they start from default-src's 'self'.
        "script-src": ["'self'", "https://portal.example"],
        "style-src": ["'self'", "'unsafe-inline'"],
        # object-src was 'none': adding a source drops 'none'.
        "object-src": ["https://x.example"],
    }
    assert policy(Browser(app).get("auth.login")) == expected
    assert policy(browser_for(app, world, "reporter").get("send.index")) == expected


def test_csp_extra_adds_to_our_own_directives_without_repeating(make_app):
    app = make_app(
        CSP_EXTRA="IMG-SRC 'self' https://cdn.example ; ; font-src https://fonts.example"
    )
    assert policy(Browser(app).get("auth.login")) == {
        **DEFAULT_POLICY,
        "img-src": ["'self'", "data:", "https://cdn.example"],
        "font-src": ["'self'", "https://fonts.example"],
    }


def test_csp_extra_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("REPORTS_CSP_EXTRA", "connect-src https://api.example")
    app = make_app()
    assert policy(Browser(app).get("auth.login"))["connect-src"] == [
        "'self'",
        "https://api.example",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        "script-src",
        "script-src a,b",
        "script-src https://a.example;style-src",
        "script_src https://a.example",
        "script-src https://ก.example",
        "script-src https://a.example\x00",
    ],
)
def test_malformed_csp_extra_refuses_to_start(make_app, extra):
    with pytest.raises(RuntimeError, match="CSP_EXTRA"):
        make_app(CSP_EXTRA=extra)


@pytest.mark.parametrize(
    "extra",
    [
        "script-src https://a.example\nhttps://b.example",
        "script-src https://a.example\r\nSet-Cookie: x=1",
    ],
)
def test_csp_extra_with_a_newline_refuses_to_start(make_app, extra):
    with pytest.raises(RuntimeError, match="CSP_EXTRA"):
        make_app(CSP_EXTRA=extra)


@pytest.mark.parametrize(
    "extra",
    [
        "script-src 'unsafe-inline'",
        "script-src https://portal.example 'UNSAFE-EVAL'",
        "script-src-attr 'unsafe-hashes'",
        "script-src-elem *",
        "default-src https:",
        "script-src data:",
        "frame-ancestors *",
        "frame-ancestors https://evil.example",
    ],
)
def test_csp_extra_cannot_allow_injected_script_or_framing(make_app, extra):
    with pytest.raises(RuntimeError, match="CSP_EXTRA"):
        make_app(CSP_EXTRA=extra)
