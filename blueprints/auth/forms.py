"""Login, password and account forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from forms import BaseForm

REQUIRED = _l("กรุณากรอกข้อมูลนี้")


class LoginForm(BaseForm):
    username = StringField(_l("ชื่อผู้ใช้"), validators=[DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField(_l("รหัสผ่าน"), validators=[DataRequired(REQUIRED), Length(max=200)])
    remember = BooleanField(_l("จดจำการเข้าระบบในเครื่องนี้"))


class ChangePasswordForm(BaseForm):
    current = PasswordField(_l("รหัสผ่านปัจจุบัน"), validators=[DataRequired(REQUIRED)])
    new = PasswordField(_l("รหัสผ่านใหม่"), validators=[DataRequired(REQUIRED), Length(max=200)])
    confirm = PasswordField(
        _l("ยืนยันรหัสผ่านใหม่"),
        validators=[DataRequired(REQUIRED), EqualTo("new", _l("รหัสผ่านใหม่ทั้งสองช่องไม่ตรงกัน"))],
    )


class ResetPasswordForm(BaseForm):
    new = PasswordField(_l("รหัสผ่านใหม่"), validators=[DataRequired(REQUIRED), Length(max=200)])


class CreateUserForm(BaseForm):
    username = StringField(_l("ชื่อผู้ใช้"), validators=[DataRequired(REQUIRED), Length(max=64)])
    full_name = StringField(_l("ชื่อ - นามสกุล"), validators=[DataRequired(REQUIRED), Length(max=200)])
    position = StringField(_l("ตำแหน่ง"), validators=[Length(max=200)])
    password = PasswordField(_l("รหัสผ่าน"), validators=[DataRequired(REQUIRED), Length(max=200)])
    is_admin = BooleanField(_l("เจ้าหน้าที่ผู้รับผิดชอบคำรับรองการปฏิบัติราชการ (ผู้ดูแล)"))


class ImportStaffForm(BaseForm):
    # Required-ness and content are checked by the service, which also names the problem.
    file = FileField(_l("ไฟล์รายชื่อบุคลากร (.csv หรือ .xlsx)"))


class ConfirmImportForm(BaseForm):
    # The previewed plan's digest: confirm applies only what the admin saw.
    digest = HiddenField()
    deactivate_missing = BooleanField(_l("ปิดการใช้งานบัญชีที่ไม่มีในไฟล์ทั้งหมดตามรายการข้างต้น"))
