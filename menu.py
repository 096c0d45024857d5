"""The module's menu: each entry names the access level that decides who sees it."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from permissions import ADMIN, LOGIN, RECEIVER, REPORTER, may


@dataclass(frozen=True)
class MenuEntry:
    label: str
    endpoint: str
    level: str
    # Shown only to staff with a password here (not to those who come from the portal).
    local_password: bool = False


@dataclass(frozen=True)
class MenuGroup:
    title: str
    entries: tuple[MenuEntry, ...]


# The officer's three items, in the order the manual says to use them.
MENU = (
    MenuGroup(
        _l("คำรับรองปฏิบัติราชการ"),
        (
            MenuEntry(_l("กำหนดผู้รายงานตัวชี้วัด"), "roles.staff", ADMIN),
            MenuEntry(_l("บันทึกตัวชี้วัด"), "indicators.index", ADMIN),
            MenuEntry(_l("รับเอกสารรายงานตัวชี้วัด"), "receive.index", RECEIVER),
            MenuEntry(_l("ปีงบประมาณและรอบรายงาน"), "years.index", ADMIN),
            MenuEntry(_l("ประวัติการใช้งาน"), "audit.index", ADMIN),
        ),
    ),
    MenuGroup(
        _l("ผู้รายงานตัวชี้วัด"),
        (MenuEntry(_l("ส่งเอกสารคำรับรอง"), "send.index", REPORTER),),
    ),
    MenuGroup(
        _l("บัญชีผู้ใช้"),
        (
            MenuEntry(_l("จัดการบัญชีผู้ใช้"), "auth.accounts", ADMIN),
            MenuEntry(_l("เปลี่ยนรหัสผ่าน"), "auth.change_password", LOGIN, local_password=True),
        ),
    ),
)


def visible_menu(user) -> list[MenuGroup]:
    """Only the groups and entries this user may open; an empty group is not shown."""
    from blueprints.auth.services import has_local_password

    local = has_local_password(user)
    groups = []
    for group in MENU:
        entries = tuple(
            e for e in group.entries if may(user, e.level) and (local or not e.local_password)
        )
        if entries:
            groups.append(MenuGroup(group.title, entries))
    return groups
