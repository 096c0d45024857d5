"""The attach form (ระบบส่งรายงานตัวชี้วัด) and the title correction form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from models import ROUND_MONTHS

REQUIRED = _l("กรุณากรอกข้อมูลนี้")


def round_choices():
    from .services import ROUND_LABELS

    return [(months, ROUND_LABELS[months]) for months in ROUND_MONTHS]


class AttachForm(FlaskForm):
    round_months = RadioField(
        _l("รอบ"), coerce=int, validators=[InputRequired(_l("กรุณาเลือกรอบการรายงาน"))]
    )
    title = StringField(_l("ชื่อรายการ"), validators=[DataRequired(REQUIRED), Length(max=255)])
    # Required-ness and content are checked by the service, which also names the problem.
    file = FileField(_l("ไฟล์แนบ"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.round_months.choices = round_choices()


class TitleForm(FlaskForm):
    title = StringField(_l("ชื่อรายการ"), validators=[DataRequired(REQUIRED), Length(max=255)])
