"""Forwarded headers count only when the connection itself comes from a proxy we named.

nginx tells us the client's address and scheme (X-Forwarded-For, X-Forwarded-Proto) and, in
header mode, who the user is (X-Remote-*). Anyone who can reach gunicorn directly could send
the same headers, so they are believed only from REPORTS_TRUSTED_PROXIES, and stripped from
every other request before the app sees them.
"""

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix

# Where the peer's own address is kept, before ProxyFix replaces REMOTE_ADDR with the client's.
PEER_KEY = "reports.peer_addr"
TRUSTED_KEY = "reports.from_trusted_proxy"


def parse_networks(value) -> list:
    """'127.0.0.1, ::1, 10.0.0.0/24' (or a list of them) as networks; a bad entry is an error."""
    if not value:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    networks = []
    for item in items:
        item = str(item).strip()
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise RuntimeError(f"REPORTS_TRUSTED_PROXIES: not an address: {item!r}") from None
    return networks


def is_trusted(address: str | None, networks: list) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:  # a unix socket peer has no address at all
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class TrustedProxies:
    """WSGI middleware: ProxyFix for one hop from a trusted peer, nothing for anyone else."""

    FORWARDED_PREFIXES = ("HTTP_X_FORWARDED_", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

    def __init__(self, app, networks: list, identity_headers: tuple[str, ...] = ()):
        self.app = app
        self.networks = networks
        # Each nginx hop overwrites X-Forwarded-For with $remote_addr, so one hop is all we read.
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)
        self.identity_keys = tuple(
            "HTTP_" + name.upper().replace("-", "_") for name in identity_headers
        )

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        environ[PEER_KEY] = peer
        trusted = is_trusted(peer, self.networks)
        environ[TRUSTED_KEY] = trusted
        start_response = secure_cookies_over_https(environ, start_response)
        if trusted:
            return self.fixed(environ, start_response)
        for key in list(environ):
            if key.startswith(self.FORWARDED_PREFIXES) or key in self.identity_keys:
                del environ[key]
        return self.app(environ, start_response)


def secure_cookies_over_https(environ, start_response):
    """Cookies set over HTTPS are marked Secure, so they never travel over plain HTTP.

    Decided per request (the scheme is known only once ProxyFix has read X-Forwarded-Proto),
    so one installation can be reached over both during a move to HTTPS.
    """

    def start(status, headers, exc_info=None):
        if environ.get("wsgi.url_scheme") == "https":
            headers = [
                (name, value + "; Secure")
                if name.lower() == "set-cookie" and "; secure" not in value.lower()
                else (name, value)
                for name, value in headers
            ]
        return start_response(status, headers, exc_info)

    return start
