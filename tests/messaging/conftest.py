"""Reminders are planned by the nightly run and sent by the worker: the messaging tests use the same
clock, default templates, outbox and always-open policy as the automation tests."""

from tests.automation.conftest import always_open, defaults, night, outbox  # noqa: F401 - pytest fixtures
