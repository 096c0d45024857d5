"""The attach form (ระบบส่งรายงานตัวชี้วัด), the revision form and the title form."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from forms import BaseForm
from labels import ROUND_LABELS

REQUIRED = _l("กรุณากรอกข้อมูลนี้")


class AttachForm(BaseForm):
    """แนบไฟล์เพิ่ม: one round, and one file or several at once."""

    round_months = RadioField(
        _l("รอบ"), coerce=int, validators=[InputRequired(_l("กรุณาเลือกรอบการรายงาน"))]
    )
    title = StringField(_l("ชื่อรายการ"), validators=[DataRequired(REQUIRED), Length(max=255)])
    # Required-ness and content are checked by the service, which also names the problem.
    file = MultipleFileField(_l("ไฟล์แนบ"))

    def __init__(self, rounds, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.round_months.choices = [(r.months, ROUND_LABELS[r.months]) for r in rounds]

    def for_several_files(self) -> None:
        """Titles pair with files by position and a blank one becomes the file's name; the
        service refuses a bad title for its own file, so the form requires none."""
        self.title.validators = [Optional()]


class RevisionForm(BaseForm):
    title = StringField(_l("ชื่อรายการ"), validators=[DataRequired(REQUIRED), Length(max=255)])
    file = FileField(_l("ไฟล์แนบ"))


class TitleForm(BaseForm):
    title = StringField(_l("ชื่อรายการ"), validators=[DataRequired(REQUIRED), Length(max=255)])
