"""Permission and method guards of the admin's custom views.

``AdminSite.admin_view`` lets in any active staff user and applies CSRF
protection; it does not check permissions. Every custom view here goes
through :func:`guarded`, which adds the app permission it needs (403
otherwise) and, for views that change something, POST only (405 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from symphra_django.exceptions import BackendUnavailable
from symphra_django.ops.status import problem_text

APP_LABEL = "symphra_django"

View = Callable[..., HttpResponse]


def guarded(model_admin: admin.ModelAdmin, view: View, permission: str, *, mutates: bool = False) -> View:
    """``view`` behind the admin login, ``permission`` (codename in this app),
    and, when it ``mutates``, POST only."""

    @wraps(view)
    def check(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if mutates and request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(f"{APP_LABEL}.{permission}"):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except BackendUnavailable as exc:
            # The dashboard shows every backend's state, this one's included.
            messages.error(request, problem_text(exc))
            return HttpResponseRedirect(reverse("admin:symphra_django_queue_changelist"))

    return model_admin.admin_site.admin_view(check)


def can(request: HttpRequest, permission: str) -> bool:
    return request.user.has_perm(f"{APP_LABEL}.{permission}")


def render(
    model_admin: admin.ModelAdmin, request: HttpRequest, template: str, title: str, **context: Any
) -> TemplateResponse:
    """A page in the admin chrome (``each_context``: site header, nav sidebar)."""
    return TemplateResponse(
        request,
        f"symphra_django/admin/{template}",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "app_label": APP_LABEL,
            "title": title,
            **context,
        },
    )


class OperationsAdmin(admin.ModelAdmin):
    """Base of the pages of an unmanaged permission-holder model: its own URLs
    instead of a changelist over a table that does not exist."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list:
        return self.operation_urls()

    def operation_urls(self) -> list:
        raise NotImplementedError
