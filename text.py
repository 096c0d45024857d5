"""Free text typed by users, cleaned once before any rule or database sees it."""

import re
import unicodedata

# Control characters other than tab and newlines (PostgreSQL refuses NUL), and the
# bidirectional overrides that can make a title display as something it is not.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NUMBER = re.compile(r"[0-9]{1,9}")
# Usernames, as the portal's logins are: ASCII only, checked as sent, so no two different
# logins (a Kelvin sign for K, a stripped control character) fold into one account here.
# The portal login, its staff export and our accounts page all use this one rule.
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def clean_text(value):
    """NFC (Thai typed on different keyboards compares equal), no control characters."""
    if not isinstance(value, str):
        return value
    return _CONTROLS.sub("", unicodedata.normalize("NFC", value))


def small_int(raw) -> int | None:
    """ASCII digits only: str.isdigit() accepts '²', which int() then refuses."""
    return int(raw) if isinstance(raw, str) and _NUMBER.fullmatch(raw) else None
