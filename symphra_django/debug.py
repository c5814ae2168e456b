"""An exception reporter filter that also hides passwords inside URLs.

Not needed for the ``SYMPHRA`` setting, whose passwords print masked
anyway (``symphra_django.utils.secrets.MaskedStr``). Set it as
``DEFAULT_EXCEPTION_REPORTER_FILTER`` to mask a URL's password wherever
else Django's debug page and error reports show one: other settings
(``CACHES``), the request's ``META`` (environment variables such as
``REDIS_URL`` under ``runserver``) and a traceback's string variables.
"""

from __future__ import annotations

from typing import Any

from django.views import debug

from symphra_django.utils.secrets import mask_urls_in


class SafeExceptionReporterFilter(debug.SafeExceptionReporterFilter):
    """Django's filter (settings hidden by key name), plus every
    ``scheme://user:password@host`` in a shown string masked."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return mask_urls_in(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, mask_urls_in(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
