"""The database backend's rows as a read-only ModelAdmin (tasks and history).

Read-only on purpose: a row changes state only through the backend (leases,
acks), so the admin only filters, searches and shows. Retrying and deleting
failed tasks goes through the backend-neutral "Failed tasks" page.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from symphra_django.messages import attempts_display
from symphra_django.models import QueuedTask


@admin.register(QueuedTask)
class QueuedTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "task_name", "queue", "status", "priority", "scheduled_time", "attempts_shown",
                    "finished_at")
    list_filter = ("status", "queue", "task_name", ("scheduled_time", admin.DateFieldListFilter),
                   ("finished_at", admin.DateFieldListFilter))
    search_fields = ("id", "task_name")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 100
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("id", "task_name", "queue", "status", "priority")}),
        ("Times", {"fields": ("scheduled_time", "created_at", "updated_at", "finished_at")}),
        ("Delivery", {"fields": ("attempts_shown", "lease_expires")}),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Error", {"fields": ("last_error", "traceback_pre")}),
    )
    readonly_fields = ("id", "task_name", "queue", "status", "priority", "scheduled_time", "created_at",
                       "updated_at", "finished_at", "attempts_shown", "lease_expires",
                       "payload_pretty", "last_error", "traceback_pre")

    @admin.display(description="attempts", ordering="attempts")
    def attempts_shown(self, obj: QueuedTask) -> str:
        return attempts_display(obj.attempts, obj.max_attempts)

    @admin.display(description="payload")
    def payload_pretty(self, obj: QueuedTask) -> str:
        try:
            text = json.dumps(json.loads(obj.payload), indent=2, sort_keys=True)
        except (ValueError, RecursionError):
            text = obj.payload
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="traceback")
    def traceback_pre(self, obj: QueuedTask) -> str:
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: QueuedTask | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: QueuedTask | None = None) -> bool:
        return False
