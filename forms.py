"""Forms shared by several blueprints."""

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """A button-only POST (store, delete, log out) still carries its CSRF token."""
