"""Free text typed by users, cleaned once before any rule or database sees it."""

import re
import unicodedata

# Control characters other than tab and newlines: invisible, and PostgreSQL refuses NUL.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value):
    """NFC (Thai typed on different keyboards compares equal), no control characters."""
    if not isinstance(value, str):
        return value
    return _CONTROLS.sub("", unicodedata.normalize("NFC", value))
