"""The reason asked for when a document is returned or a receipt is undone."""

from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from forms import BaseForm


class ReasonForm(BaseForm):
    reason = TextAreaField(
        _l("เหตุผล"), validators=[DataRequired(_l("กรุณากรอกเหตุผล")), Length(max=2000)]
    )
