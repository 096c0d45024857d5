"""The one exception services raise when a rule refuses an action; routes show its Thai message."""


class RuleError(Exception):
    """message: lazy Thai text for the user; status: the HTTP answer (409 conflict by default)."""

    def __init__(self, message, status: int = 409):
        super().__init__(str(message))
        self.message = message
        self.status = status
