"""Shared assertion for error messages that must name an argument, its value and range."""


def assert_names_argument(message: str, argument: str, value: str, valid: str) -> None:
    """``message`` names ``argument=value`` (or both parts) and the valid range."""
    assert f"{argument}={value}" in message or (
        f"{argument}=" in message and value in message
    ), message
    assert valid in message, message
