"""Our Content-Security-Policy, and the sources a portal layout may add to it."""

import re

BASE_POLICY = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}
# Directives that fall back to default-src when absent: adding to one starts from 'self'.
FETCH_DIRECTIVES = {
    "child-src",
    "connect-src",
    "font-src",
    "frame-src",
    "img-src",
    "manifest-src",
    "media-src",
    "object-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "worker-src",
}
_NAME = re.compile(r"[a-z][a-z-]*")
# A source expression never holds whitespace, ';' or ',' (those end it) or control characters.
_SOURCE = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c-\x7e]+")
# A portal origin: scheme, host and optional port, nothing else (a path in frame-ancestors
# would be ignored by browsers and only mislead whoever reads the setting).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
# What a downloaded document gets in place of our policy: should a browser ever render it
# (an old one, a plugin, a user's "open"), it runs nothing, loads nothing and has no origin.
DOWNLOAD_POLICY = "sandbox; default-src 'none'; frame-ancestors 'none'"
# Sources that would let injected markup run script: "no inline script" is a promise a
# setting must not be able to take back. A portal's own scripts are named by their host.
SCRIPT_DIRECTIVES = {"default-src", "script-src", "script-src-elem", "script-src-attr"}
UNSAFE_SCRIPT_SOURCES = {
    "'unsafe-inline'",
    "'unsafe-eval'",
    "'unsafe-hashes'",
    "'wasm-unsafe-eval'",
    "*",
    "data:",
    "blob:",
    "http:",
    "https:",
    "filesystem:",
}


def portal_origins(value) -> list[str]:
    """REPORTS_PORTAL_ORIGINS: the portal's origins that may show us in a frame.

    Empty: our own origin only (the portal normally serves us at /myoffice/reports on its
    host). A list (JSON from the environment) or a comma/space separated string.
    """
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    origins = [str(v).strip().rstrip("/") for v in value or []]
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise RuntimeError(
                f"REPORTS_PORTAL_ORIGINS: {origin!r} is not an origin like https://portal.example"
            )
    return origins


def frames_only_from_self(policy: str) -> bool:
    """X-Frame-Options can say only SAMEORIGIN; send it when that is the whole truth."""
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == "frame-ancestors":
            return words[1:] == ["'self'"]
    return False


def build_policy(extra: str, origins: list[str] = ()) -> str:
    """BASE_POLICY with REPORTS_CSP_EXTRA's sources added; a malformed value refuses to start.

    `origins` (portal_origins()) join 'self' in frame-ancestors: the portal may frame us,
    nobody else.
    """
    policy = {name: list(sources) for name, sources in BASE_POLICY.items()}
    policy["frame-ancestors"] += [o for o in origins if o not in policy["frame-ancestors"]]
    if re.search(r"[\x00-\x1f\x7f]", extra or ""):
        # A value broken across lines is a mistake to show, not to read as more sources.
        raise RuntimeError("REPORTS_CSP_EXTRA: control characters or line breaks in the value")
    for part in (extra or "").split(";"):
        words = part.split()
        if not words:
            continue
        name, sources = words[0].lower(), words[1:]
        if not _NAME.fullmatch(name) or not sources:
            raise RuntimeError(f"REPORTS_CSP_EXTRA: cannot read {part.strip()!r}")
        bad = [s for s in sources if not _SOURCE.fullmatch(s)]
        if bad:
            raise RuntimeError(f"REPORTS_CSP_EXTRA: cannot read {bad[0]!r} in {name}")
        if name == "frame-ancestors":
            raise RuntimeError(
                "REPORTS_CSP_EXTRA: frame-ancestors is not widened here; name the portal's "
                "origin in REPORTS_PORTAL_ORIGINS"
            )
        unsafe = [s for s in sources if s.lower() in UNSAFE_SCRIPT_SOURCES]
        if name in SCRIPT_DIRECTIVES and unsafe:
            raise RuntimeError(
                f"REPORTS_CSP_EXTRA: {unsafe[0]} in {name} would let injected script run; "
                "name the hosts the portal's scripts come from instead"
            )
        fallback = BASE_POLICY["default-src"] if name in FETCH_DIRECTIVES else []
        current = [s for s in policy.get(name, fallback) if s != "'none'"]
        added = current + [s for s in sources if s not in current and s != "'none'"]
        policy[name] = added or ["'none'"]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())
