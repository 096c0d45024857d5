"""The one exception services raise when a rule refuses an action; routes show its Thai message."""


class RuleError(Exception):
    """message: lazy Thai text for the user; status: the HTTP answer (409 conflict by default)."""

    def __init__(self, message, status: int = 409):
        # str(): a lazy string counts as safe HTML to Jinja, and its parameters (names,
        # titles) come from users; plain text is escaped wherever it is shown.
        self.message = str(message)
        super().__init__(self.message)
        self.status = status
