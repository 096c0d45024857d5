"""The command line: flask --app app init-db | create-user | set-admin | seed-demo."""

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
