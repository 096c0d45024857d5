"""The indicator form (ระบบส่งรายชื่อตัวชี้วัด)."""

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from forms import BaseForm

REQUIRED = _l("กรุณากรอกข้อมูลนี้")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class IndicatorForm(BaseForm):
    fiscal_year = IntegerField(
        # Typed in the Buddhist era whatever the page's language: the label says so.
        _l("ปีงบประมาณ (พ.ศ.)"),
        validators=[
            InputRequired(REQUIRED),
            NumberRange(2500, 2700, _l("ปีงบประมาณ (พ.ศ.) ไม่ถูกต้อง")),
        ],
    )
    category = StringField(_l("ตัวชี้วัด"), default="KRS", validators=[Length(max=32)])
    code = StringField(_l("รหัสตัวชี้วัด"), validators=[DataRequired(REQUIRED), Length(max=32)])
    name = TextAreaField(_l("ชื่อตัวชี้วัด"), validators=[DataRequired(REQUIRED), Length(max=2000)])
    receiver = RadioField(
        _l("จนท.รับข้อมูลตัวชี้วัด"),
        coerce=int,
        validators=[InputRequired(_l("กรุณาเลือก จนท.รับข้อมูลตัวชี้วัด หนึ่งคน"))],
    )
    reporters = CheckboxesField(
        _l("จนท.รายงานตัวชี้วัด"),
        coerce=int,
        validators=[DataRequired(_l("กรุณาเลือก จนท.รายงานตัวชี้วัด อย่างน้อยหนึ่งคน"))],
    )
