"""The command line: setup, staff, email, file checks, backup and restore."""

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import inspect, select

from errors import RuleError
from extensions import db
from models import User


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the schema to the newest migration (safe to run again)."""
    from blueprints.years.services import bootstrap_current_year

    upgrade(directory=current_app.extensions["migrate"].directory)
    bootstrap_current_year()
    click.echo("ฐานข้อมูลพร้อมใช้งาน")


@click.command("create-user")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="ชื่อ นามสกุล")
@click.option("--position", default="", help="กลุ่มงาน เช่น กลุ่มอำนวยการ")
@click.option("--admin", is_flag=True, help="เจ้าหน้าที่ผู้รับผิดชอบคำรับรองการปฏิบัติราชการ")
@click.option("--password", help="รหัสผ่าน (ถ้าไม่ระบุจะถามทางหน้าจอ)")
@with_appcontext
def create_user_command(username, full_name, position, admin, password):
    """Add a staff account; its reporter status starts as '-'."""
    from blueprints.auth.services import create_user

    if password is None:
        password = click.prompt("รหัสผ่าน", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(username, full_name, position, password, is_admin=admin)
    except RuleError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(f"เพิ่มผู้ใช้ {user.username} ({user.full_name}) แล้ว")


@click.command("set-admin")
@click.argument("username")
@click.option("--remove", is_flag=True, help="ถอนสิทธิ์ผู้ดูแล")
@with_appcontext
def set_admin_command(username, remove):
    """Make an account the officer (admin), e.g. one the portal's login created."""
    import audit
    from blueprints.auth.services import end_sessions, find_by_username

    user = find_by_username(username)
    if user is None:
        raise click.ClickException(f"ไม่พบผู้ใช้ {username} (ผู้ที่เข้าจากพอร์ทัลจะมีบัญชีหลังจากเข้าระบบครั้งแรก)")
    user.is_admin = not remove
    end_sessions(user)  # menus and rights are re-read on the next request
    audit.record("admin_revoked" if remove else "admin_granted", obj=user, name=user.full_name)
    db.session.commit()
    if remove:
        click.echo(f"ถอนสิทธิ์ผู้ดูแลของ {user.username} ({user.full_name}) แล้ว")
    else:
        click.echo(f"{user.username} ({user.full_name}) เป็นผู้ดูแลแล้ว")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="ทำเฉพาะเมื่อยังไม่มีผู้ใช้ในระบบ")
@with_appcontext
def seed_demo_command(if_empty):
    """Fill the database with fictional staff, indicators and documents to try the module."""
    from demo import DEMO_PASSWORD, seed_demo

    if "users" not in inspect(db.engine).get_table_names():
        raise click.ClickException("ยังไม่มีตาราง กรุณารัน flask --app app init-db ก่อน")
    if db.session.scalar(select(User.id).limit(1)) is not None:
        if if_empty:
            click.echo("มีข้อมูลอยู่แล้ว ไม่สร้างข้อมูลตัวอย่างซ้ำ")
            print_logins(DEMO_PASSWORD)
            return
        raise click.ClickException("ฐานข้อมูลมีผู้ใช้อยู่แล้ว ข้อมูลตัวอย่างใช้กับฐานข้อมูลว่างเท่านั้น")
    seed_demo()
    click.echo("สร้างข้อมูลตัวอย่างแล้ว")
    print_logins(DEMO_PASSWORD)


def print_logins(password: str) -> None:
    """The demo accounts that still exist in this database (none on a real installation)."""
    from demo import STAFF

    existing = set(db.session.scalars(select(User.username).where(User.active.is_(True))))
    demo = [(username, role) for username, *_rest, role in STAFF if username in existing]
    if demo:
        click.echo(f"บัญชีสำหรับทดลอง (รหัสผ่านทุกบัญชี: {password})")
        for username, role in demo:
            click.echo(f"  {username:<12} {role}")


@click.command("import-staff")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="แสดงสิ่งที่จะเปลี่ยนโดยไม่บันทึก")
@click.option(
    "--deactivate-missing",
    is_flag=True,
    help="ปิดการใช้งานบัญชีที่ใช้งานอยู่แต่ไม่มีในไฟล์ (ยกเว้นผู้ดูแล)",
)
@with_appcontext
def import_staff_command(path, dry_run, deactivate_missing):
    """Import staff from the portal's personnel export (CSV or .xlsx); nobody is ever deleted."""
    import os

    from blueprints.auth import staff_import

    try:
        with open(path, "rb") as f:
            data = staff_import.read_limited(f)
        plan = staff_import.plan_file(data, os.path.basename(path), actor=None)
    except OSError as error:
        raise click.ClickException(f"เปิดไฟล์ {path} ไม่ได้: {error.strerror}") from None
    except RuleError as error:
        raise click.ClickException(str(error.message)) from None
    print_import_plan(plan, deactivate_missing)
    if dry_run:
        click.echo("ทดลองเท่านั้น (--dry-run): ยังไม่ได้บันทึกการเปลี่ยนแปลงใด ๆ")
        return
    if not plan.changes(deactivate_missing):
        click.echo("ข้อมูลในไฟล์ตรงกับบัญชีในระบบแล้ว ไม่มีสิ่งที่ต้องเปลี่ยนแปลง")
        return
    try:
        result = staff_import.apply(plan, None, deactivate_missing)
    except RuleError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(
        f"บันทึกแล้ว: เพิ่ม {result.created} บัญชี แก้ไข {result.updated} บัญชี "
        f"ปิดการใช้งาน {len(result.deactivated)} บัญชี"
    )
    for account, indicators in result.orphaned:
        codes = ", ".join(f"{i.code} ({i.fiscal_year})" for i in indicators)
        click.echo(f"  {account.full_name} เป็นผู้รับข้อมูลของตัวชี้วัด {codes} กรุณาเปลี่ยนผู้รับข้อมูล")


def print_import_plan(plan, deactivate_missing: bool) -> None:
    """Counts first, then every line of each list, as the preview page shows them."""
    click.echo(f"ไฟล์ {plan.filename}: อ่านได้ {plan.lines} บรรทัด")
    click.echo(f"  เพิ่มบัญชีใหม่ {len(plan.new)} บัญชี")
    click.echo(f"  แก้ไขชื่อหรือตำแหน่ง {len(plan.updated)} บัญชี")
    click.echo(f"  ไม่เปลี่ยนแปลง {plan.unchanged} บัญชี")
    click.echo(f"  ปิดการใช้งานอยู่ (ไม่เปิดให้) {len(plan.inactive)} บัญชี")
    click.echo(f"  ไม่มีในไฟล์ {len(plan.missing)} บัญชี")
    click.echo(f"  บรรทัดที่ไม่รับ {len(plan.rejected)} บรรทัด")
    for row in plan.new:
        click.echo(f"เพิ่ม: {row.username} {row.full_name} ({row.position or '-'})")
    for change in plan.updated:
        click.echo(
            f"แก้ไข: {change.username} {change.old_name} ({change.old_position or '-'}) "
            f"-> {change.new_name} ({change.new_position or '-'})"
        )
    for account in plan.inactive:
        click.echo(f"ปิดการใช้งานอยู่ ไม่เปิดให้: {account.username} {account.full_name}")
    verb = "จะปิดการใช้งาน" if deactivate_missing else "ไม่มีในไฟล์ (คงเดิม)"
    for account in plan.missing:
        click.echo(f"{verb}: {account.username} {account.full_name}")
    if plan.missing and not deactivate_missing:
        click.echo("ใช้ --deactivate-missing เพื่อปิดการใช้งานบัญชีที่ไม่มีในไฟล์")
    for account in plan.kept:
        click.echo(f"ผู้ดูแล ไม่ปิดการใช้งาน: {account.username} {account.full_name}")
    for item in plan.rejected:
        click.echo(f"บรรทัด {item.line} ไม่รับ: {item.reason}")


@click.command("send-notifications")
@with_appcontext
def send_notifications_command():
    """Email each person one digest of their new events (cron, every few minutes)."""
    import notifications

    if not current_app.config["SMTP_HOST"]:
        click.echo("ไม่ได้ตั้งค่า REPORTS_SMTP_HOST จึงไม่ส่งอีเมล")
        return
    if not current_app.config["SMTP_DOMAIN"]:
        raise click.ClickException("กรุณาตั้งค่า REPORTS_SMTP_DOMAIN (อีเมลของแต่ละคนคือ ชื่อผู้ใช้@โดเมนนี้)")
    try:
        result = notifications.send_digests()
    except notifications.SenderBusy:
        click.echo("มีการส่งการแจ้งเตือนอื่นทำงานอยู่ ครั้งนี้ไม่ส่งซ้ำ")
        return
    click.echo(f"ส่งอีเมลแล้ว {result.sent_people} ฉบับ ({result.sent_events} เรื่อง)")
    for failure in result.failures:
        click.echo(f"ส่งไม่สำเร็จ: {failure}", err=True)
    if result.server_down:
        raise click.ClickException(f"ติดต่อเซิร์ฟเวอร์อีเมลไม่ได้ ({result.server_down}) จะส่งใหม่ในครั้งถัดไป")
    if result.failures:
        raise click.ClickException(f"ส่งไม่สำเร็จ {len(result.failures)} ฉบับ")


@click.command("send-reminders")
@with_appcontext
def send_reminders_command():
    """Queue the reminders 7 days and 1 day before each due date (daily; safe to repeat)."""
    import notifications

    added = notifications.queue_reminders(notifications.bangkok_today())
    click.echo(f"เพิ่มการเตือนกำหนดส่ง {added} รายการ")


@click.command("verify-files")
@click.option("--quarantine", is_flag=True, help="ย้ายไฟล์ที่ไม่มีเอกสารอ้างถึงไปไว้ใน .quarantine/ (ไม่ลบ)")
@with_appcontext
def verify_files_command(quarantine):
    """Check every document's file against its SHA-256 and find files no document refers to."""
    import integrity
    from extensions import storage

    report = integrity.verify(storage(), quarantine)
    print_integrity_report(report)
    if report.problems:
        raise click.ClickException(f"พบปัญหา {report.problems} รายการ")


def print_integrity_report(report) -> None:
    click.echo(f"ตรวจไฟล์ของเอกสาร {report.checked} รายการ ในโฟลเดอร์ {report.root}")
    click.echo(f"  ถูกต้อง {report.good} ไฟล์")
    click.echo(f"  ไม่พบไฟล์ {len(report.missing)} ไฟล์")
    click.echo(f"  ไฟล์ไม่ตรงกับที่บันทึกไว้ (ขนาดหรือ SHA-256) {len(report.damaged)} ไฟล์")
    click.echo(f"  ไฟล์ที่ไม่มีเอกสารอ้างถึง {len(report.unreferenced)} ไฟล์")
    click.echo(f"  ไฟล์ค้างใน .incoming นานเกิน 1 ชั่วโมง ลบแล้ว {len(report.stale_incoming)} ไฟล์")
    for item in report.missing:
        click.echo(f"ไม่พบไฟล์: เอกสาร #{item.document_id} {item.title} ({item.stored_name})")
    for item in report.damaged:
        label = f"เอกสาร #{item.document_id} {item.title} ({item.stored_name})"
        if item.size is None:
            click.echo(f"ไม่ใช่ไฟล์ปกติ: {label}")
            continue
        click.echo(
            f"ไฟล์ไม่ตรง: {label} ขนาด {item.size:,} ไบต์ (บันทึกไว้ {item.expected_size:,} ไบต์) "
            f"SHA-256 {item.sha256} (บันทึกไว้ {item.expected_sha256})"
        )
    for name in report.unreferenced:
        moved = report.quarantined.get(name)
        click.echo(f"ไม่มีเอกสารอ้างถึง: {name}" + (f" ย้ายไปที่ {moved} แล้ว" if moved else ""))
    if report.unreferenced and not report.quarantined:
        click.echo("ใช้ --quarantine เพื่อย้ายไฟล์เหล่านี้ไปไว้ใน .quarantine/ (ไม่ลบ)")
    for name, age in report.stale_incoming:
        click.echo(f"ลบไฟล์ค้าง: .incoming/{name} (อายุ {age / 3600:.1f} ชั่วโมง ไม่ใช่เอกสาร)")
    if report.young:
        click.echo(f"ไฟล์ใหม่ที่ยังไม่มีเอกสาร (อาจกำลังอัปโหลด) {report.young} ไฟล์ ยังไม่ตรวจ")
    if report.trash_emptied:
        click.echo(f"ล้างไฟล์ของเอกสารที่ลบแล้วใน .trash/ {report.trash_emptied} ไฟล์")
    if not report.problems:
        click.echo("ไม่พบปัญหา")


@click.command("backup")
@click.argument("dest", metavar="DEST", type=click.Path(file_okay=True, dir_okay=True))
@with_appcontext
def backup_command(dest):
    """One .tar of every row and every document's file, with SHA-256s, while the app runs."""
    import backup

    try:
        summary = backup.create(dest)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"สำรองข้อมูลแล้ว: {summary.path}")
    click.echo(
        f"  {sum(summary.rows.values()):,} แถว จาก {len(summary.rows)} ตาราง, "
        f"ไฟล์เอกสาร {summary.files:,} ไฟล์ ({summary.bytes:,} ไบต์)"
    )


@click.command("restore")
@click.argument("archive", metavar="ARCHIVE", type=click.Path(dir_okay=False))
@with_appcontext
def restore_command(archive):
    """Restore a backup into an empty database and upload folder (never merges)."""
    import backup

    try:
        summary = backup.restore(archive)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"กู้คืนจาก {summary.path} แล้ว")
    click.echo(
        f"  {sum(summary.rows.values()):,} แถว จาก {len(summary.rows)} ตาราง, "
        f"ไฟล์เอกสาร {summary.files:,} ไฟล์ ({summary.bytes:,} ไบต์) ตรงกับ SHA-256 ทุกไฟล์"
    )
