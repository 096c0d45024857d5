"""Thai words for the codes the database stores (rounds, roles, document states)."""

from flask_babel import lazy_gettext as _l

ROUND_LABELS = {
    3: _l("รอบ 3 เดือน"),
    6: _l("รอบ 6 เดือน"),
    9: _l("รอบ 9 เดือน"),
    12: _l("รอบ 12 เดือน"),
}

ROLE_LABELS = {"reporter": _l("ผู้รายงานตัวชี้วัด"), "general": _l("จนท.ทั่วไป")}

# What a reporter sees per indicator and round.
ROUND_STATES = {
    "not_sent": _l("ยังไม่ส่ง"),
    "sent": _l("ส่งแล้ว"),
    "returned": _l("ส่งกลับแก้ไข"),
    "received": _l("รับแล้ว"),
}
