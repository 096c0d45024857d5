"""The module's blueprints: auth, roles, indicators, send, receive."""
