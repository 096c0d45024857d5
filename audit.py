"""The audit trail: one append-only entry per action, written in the action's own transaction."""

import json
from contextlib import suppress
from datetime import date

from flask import has_request_context, request
from flask_babel import lazy_pgettext as _p

from extensions import db
from labels import ROLE_LABELS, ROUND_LABELS
from language import fiscal_year_label, local_date
from models import AuditEntry

# Action code -> Thai sentence; parameters fill the placeholders when the page renders.
# The "audit" context: the same Thai as a button ("เข้าระบบ") reads as an event here, which
# English says differently ("Logged in", not "Log in").
ACTIONS = {
    "login": _p("audit", "เข้าระบบ"),
    "login_failed": _p("audit", "เข้าระบบไม่สำเร็จ (ชื่อผู้ใช้ %(username)s)"),
    "login_throttled_account": _p(
        "audit",
        "งดรับการเข้าระบบของชื่อผู้ใช้ %(username)s ชั่วคราว %(minutes)s นาที เพราะใส่รหัสผ่านผิดหลายครั้ง",
    ),
    "login_throttled_address": _p(
        "audit",
        "งดรับการเข้าระบบจากที่อยู่ไอพีนี้ชั่วคราว %(minutes)s นาที "
        "เพราะเข้าระบบไม่สำเร็จหลายครั้ง (ชื่อผู้ใช้ที่ลอง %(username)s)",
    ),
    "logout": _p("audit", "ออกจากระบบ"),
    "password_changed": _p("audit", "เปลี่ยนรหัสผ่านของตนเอง"),
    "password_reset": _p("audit", "ตั้งรหัสผ่านใหม่ให้ %(name)s"),
    "account_created": _p("audit", "เพิ่มบัญชี %(name)s (%(username)s)"),
    "account_from_portal": _p("audit", "เพิ่มบัญชี %(name)s (%(username)s) จากการเข้าระบบผ่านพอร์ทัล"),
    "admin_granted": _p("audit", "ให้สิทธิ์ผู้ดูแลแก่ %(name)s (คำสั่ง set-admin)"),
    "admin_revoked": _p("audit", "ถอนสิทธิ์ผู้ดูแลของ %(name)s (คำสั่ง set-admin)"),
    "account_deactivated": _p("audit", "ปิดการใช้งานบัญชี %(name)s"),
    "account_activated": _p("audit", "เปิดใช้งานบัญชี %(name)s"),
    "staff_imported": _p(
        "audit",
        "นำเข้ารายชื่อบุคลากรจากไฟล์ %(file)s: เพิ่ม %(created)s แก้ไข %(updated)s "
        "ปิดการใช้งาน %(deactivated)s บัญชี บรรทัดที่ไม่รับ %(rejected)s บรรทัด",
    ),
    "staff_import_created": _p("audit", "เพิ่มบัญชี %(name)s (%(username)s) จากการนำเข้ารายชื่อบุคลากร"),
    "staff_import_updated": _p(
        "audit",
        "แก้ไขบัญชี %(username)s จากการนำเข้ารายชื่อบุคลากร: %(old_name)s (%(old_position)s) "
        "เป็น %(name)s (%(position)s)",
    ),
    "staff_import_deactivated": _p("audit", "ปิดการใช้งานบัญชี %(name)s เพราะไม่มีในรายชื่อบุคลากรที่นำเข้า"),
    "role_changed": _p("audit", "เปลี่ยนสถานะของ %(name)s จาก %(old)s เป็น %(new)s"),
    "indicator_created": _p("audit", "เพิ่มตัวชี้วัด %(code)s %(name)s (ปี %(year)s)"),
    "indicator_updated": _p("audit", "แก้ไขตัวชี้วัด %(code)s %(name)s (ปี %(year)s)"),
    "indicator_deleted": _p("audit", "ลบตัวชี้วัด %(code)s %(name)s (ปี %(year)s)"),
    "document_sent": _p("audit", "ส่งเอกสาร %(title)s (%(file)s) %(round)s"),
    "document_revised": _p("audit", "ส่งฉบับแก้ไข %(title)s (%(file)s) แทนเอกสารเลขที่ %(replaces)s"),
    "document_renamed": _p("audit", "แก้ไขชื่อรายการจาก %(old_title)s เป็น %(new_title)s"),
    "document_deleted": _p("audit", "ลบเอกสาร %(title)s"),
    "document_downloaded": _p("audit", "ดาวน์โหลดเอกสาร %(title)s"),
    "document_received": _p("audit", "จัดเก็บเอกสาร %(title)s"),
    "document_returned": _p("audit", "ส่งกลับแก้ไขเอกสาร %(title)s เหตุผล: %(reason)s"),
    "receipt_undone": _p("audit", "ยกเลิกการรับเอกสาร %(title)s เหตุผล: %(reason)s"),
    "year_opened": _p("audit", "เปิดปีงบประมาณ %(year)s"),
    "year_closed": _p("audit", "ปิดปีงบประมาณ %(year)s"),
    "indicators_copied": _p("audit", "คัดลอกตัวชี้วัด %(count)s รายการ จากปี %(source)s ไปปี %(year)s"),
    "round_added": _p("audit", "เพิ่ม %(round)s ในปีงบประมาณ %(year)s"),
    "due_date_set": _p("audit", "กำหนดวันครบกำหนด %(round)s ปี %(year)s เป็น %(due)s"),
    "round_exported": _p("audit", "ดาวน์โหลดเอกสาร%(round)s ปี %(year)s เป็นไฟล์ zip %(count)s ไฟล์"),
    "indicator_exported": _p(
        "audit", "ดาวน์โหลดเอกสารตัวชี้วัด %(code)s %(round)s ปี %(year)s เป็นไฟล์ zip %(count)s ไฟล์"
    ),
    "round_handed_over": _p("audit", "บันทึกว่า%(round)s ปี %(year)s ส่งระบบ สพฐ. แล้ว เมื่อ %(on)s"),
    "round_handover_undone": _p("audit", "ยกเลิกการบันทึกส่งระบบ สพฐ. ของ%(round)s ปี %(year)s"),
}

# Parameters stored as codes, turned into words only when read.
PARAM_WORDS = {"old": ROLE_LABELS, "new": ROLE_LABELS, "round": ROUND_LABELS}


def client_address() -> str | None:
    # remote_addr is the peer, or what ProxyFix took from the proxies we said we trust.
    return request.remote_addr if has_request_context() else None


def record(action: str, *, actor=None, obj=None, indicator_id=None, **params) -> AuditEntry:
    """Add the entry to the current transaction: it commits, or rolls back, with the action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=obj.__tablename__ if obj is not None else None,
        object_id=obj.id if obj is not None else None,
        indicator_id=indicator_id,
        params=json.dumps(params, ensure_ascii=False, default=str),
        ip=client_address(),
    )
    db.session.add(entry)
    return entry


def record_document(action: str, actor, document, **params) -> AuditEntry:
    """An entry about a document: filed under its indicator, named by its title."""
    params.setdefault("title", document.title)
    return record(action, actor=actor, obj=document, indicator_id=document.indicator_id, **params)


def describe(entry: AuditEntry) -> str:
    """The entry as a sentence in the reader's language."""
    params = json.loads(entry.params or "{}")
    for key, words in PARAM_WORDS.items():
        if key in params:
            params[key] = str(words.get(params[key], params[key] if params[key] else "-"))
    for key in ("due", "on"):  # stored as ISO dates, read in the reader's calendar
        if key in params:
            with suppress(ValueError, TypeError):
                params[key] = local_date(date.fromisoformat(params[key]))
    for key in ("year", "source"):  # fiscal years, stored in the Buddhist era
        if isinstance(params.get(key), int):
            params[key] = fiscal_year_label(params[key])
    template = str(ACTIONS.get(entry.action, entry.action))
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return template
