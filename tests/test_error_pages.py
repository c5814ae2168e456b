"""No password of the SYMPHRA setting on Django's error pages or error e-mails.

Django hides a setting only when its key looks secret (``PASSWORD``,
``KEY``...); a password inside a ``url`` option would print in clear on the
debug page and in the e-mail sent to ``ADMINS``.
"""

from __future__ import annotations

import logging
import sys

import django
import pytest
from django.conf import settings
from django.core import mail
from django.test import RequestFactory, override_settings
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter, technical_500_response

REDIS_PASSWORD = "r3dis-pa55"
RABBIT_PASSWORD = "rabb1t-pa55"
PLAIN_PASSWORD = "pla1n-pa55"
PASSWORDS = (REDIS_PASSWORD, RABBIT_PASSWORD, PLAIN_PASSWORD)


def with_secrets() -> dict:
    return {
        "BACKENDS": {
            "default": {"BACKEND": "redis", "OPTIONS": {"url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"}},
            "rabbit": {"BACKEND": "rabbitmq",
                       "OPTIONS": {"url": f"amqp://worker:{RABBIT_PASSWORD}@127.0.0.1:5672/%2F"}},
            "custom": {"BACKEND": "memory", "OPTIONS": {"password": PLAIN_PASSWORD}},
        },
    }


def fail_while_holding_the_settings():
    """A view that fails with the setting's values in its local variables."""
    symphra = settings.SYMPHRA
    url = symphra["BACKENDS"]["default"]["OPTIONS"]["url"]  # noqa: F841 - shown by the debug page
    options = symphra["BACKENDS"]["rabbit"]["OPTIONS"]  # noqa: F841
    raise RuntimeError("the dashboard broke")


def captured_failure():
    try:
        fail_while_holding_the_settings()
    except RuntimeError:
        return sys.exc_info()
    raise AssertionError("no failure")


@pytest.fixture
def request_():
    return RequestFactory().get("/admin/symphra_django/queue/")


@override_settings(DEBUG=True, SYMPHRA=with_secrets())
def test_the_debug_page_shows_the_setting_with_its_passwords_masked(request_):
    page = technical_500_response(request_, *captured_failure()).content.decode()
    assert "SYMPHRA" in page and "the dashboard broke" in page
    assert "redis://:***@127.0.0.1:6379/0" in page
    assert "amqp://worker:***@127.0.0.1:5672/%2F" in page
    for password in PASSWORDS:
        assert password not in page


@override_settings(DEBUG=True, SYMPHRA=with_secrets())
def test_the_plain_text_report_has_no_password(request_):
    text = ExceptionReporter(request_, *captured_failure()).get_traceback_text()
    assert "SYMPHRA" in text and "redis://:***@127.0.0.1:6379/0" in text
    for password in PASSWORDS:
        assert password not in text


# Django 6.0 takes ADMINS as plain addresses and deprecates pairs; 6.1 asks
# for MAILERS (replacing EMAIL_BACKEND).
MAIL_SETTINGS: dict[str, object] = {
    "ADMINS": ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.com")],
}
if django.VERSION >= (6, 1):
    MAIL_SETTINGS["MAILERS"] = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


@override_settings(DEBUG=False, SYMPHRA=with_secrets(), **MAIL_SETTINGS)
@pytest.mark.parametrize("include_html", [False, True])
def test_the_error_email_to_admins_has_no_password(request_, include_html):
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
                               (request_.path,), captured_failure())
    record.request = request_
    AdminEmailHandler(include_html=include_html).emit(record)
    [email] = mail.outbox
    bodies = [email.body] + [content for content, _ in getattr(email, "alternatives", [])]
    assert "the dashboard broke" in email.body
    for body in bodies:
        for password in PASSWORDS:
            assert password not in body


@override_settings(SYMPHRA=with_secrets())
def test_the_values_themselves_are_unchanged():
    options = settings.SYMPHRA["BACKENDS"]["default"]["OPTIONS"]
    assert options["url"] == f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    assert f"{options['url']}" == f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    assert settings.SYMPHRA["BACKENDS"]["custom"]["OPTIONS"]["password"] == PLAIN_PASSWORD


def test_the_optional_filter_also_masks_urls_outside_the_setting(request_):
    from symphra_django.debug import SafeExceptionReporterFilter

    # What DEFAULT_EXCEPTION_REPORTER_FILTER installs for every request
    # (Django caches the default filter, so a test sets it on its request).
    request_.exception_reporter_filter = SafeExceptionReporterFilter()
    request_.META["REDIS_URL"] = f"redis://:{REDIS_PASSWORD}@cache:6379/1"
    with override_settings(DEBUG=True, SYMPHRA=with_secrets(), CACHES_URL=f"redis://:{REDIS_PASSWORD}@cache:6379/1"):
        page = technical_500_response(request_, *captured_failure()).content.decode()
    assert page.count("redis://:***@cache:6379/1") >= 2  # the setting and META
    assert REDIS_PASSWORD not in page
