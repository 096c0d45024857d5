"""The base form every form uses: Thai messages for WTForms' own errors, cleaned text."""

import re

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from text import clean_text


class ThaiMessages:
    """WTForms ships no Thai catalogue: its built-in messages, said in Thai.

    An English message we have not listed becomes a generic Thai one rather than
    reaching a user who was never trained on English.
    """

    def _messages(self):
        return [
            (r"^This field is required\.$", _("กรุณากรอกข้อมูลนี้")),
            (r"^Not a valid choice\.?$", _("กรุณาเลือกจากรายการที่มีให้")),
            (r"^Invalid Choice: could not coerce\.?$", _("กรุณาเลือกจากรายการที่มีให้")),
            (r"is not a valid choice", _("มีตัวเลือกที่ไม่ถูกต้อง")),
            (r"^Not a valid integer value\.?$", _("กรุณากรอกเป็นตัวเลข")),
            (r"^Not a valid date value\.?$", _("กรุณากรอกวันที่ให้ถูกต้อง")),
            (r"^Number must be", _("ตัวเลขอยู่นอกช่วงที่กำหนด")),
            (r"longer than", _("ข้อความยาวเกินกำหนด")),
            (r"at least", _("ข้อความสั้นเกินไป")),
        ]

    def gettext(self, string):
        for pattern, thai in self._messages():
            if re.search(pattern, string):
                return thai
        return _("ข้อมูลไม่ถูกต้อง")

    def ngettext(self, singular, plural, n):
        return self.gettext(singular)


class BaseForm(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return ThaiMessages()

        def bind_field(self, form, unbound_field, options):
            # Every text field is cleaned (passwords are taken exactly as typed).
            field_class = unbound_field.field_class
            if issubclass(field_class, StringField) and not issubclass(field_class, PasswordField):
                filters = tuple(unbound_field.kwargs.get("filters", ()))
                options = {**options, "filters": (clean_text, *filters)}
            return unbound_field.bind(form=form, **options)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # Screen readers announce the message with the field (field_errors renders the id).
        for field in self:
            if field.errors:
                field.render_kw = {
                    **(field.render_kw or {}),
                    "aria-invalid": "true",
                    "aria-describedby": f"{field.id}-error",
                }
        return valid
