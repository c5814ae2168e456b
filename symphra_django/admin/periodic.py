"""Database schedules (``PeriodicSchedule``): create, edit, enable/disable,
delete and run now, with the next five runs shown before saving.

The model's standard permissions apply: ``view_periodicschedule`` lists and
shows them, ``add_``/``change_``/``delete_periodicschedule`` allow what they
say (enable, disable and run now need ``change``). The form validates
through the model (``PeriodicSchedule.clean``); its *Preview* button
validates and shows the next runs of the values entered without saving them.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from symphra_django.admin.schedules import run_now
from symphra_django.models import PeriodicSchedule, ScheduleState
from symphra_django.models.periodic import LEDGER_PREFIX
from symphra_django.ops.schedules import next_run_labels
from symphra_django.runtime.stored import entry_of
from symphra_django.tasks.registry import registry

logger = logging.getLogger("symphra_django.admin")

#: Name of the form's submit button that previews instead of saving.
PREVIEW = "_preview"


class PeriodicScheduleForm(forms.ModelForm):
    """The schedule form: the task is picked among the declared tasks, and a
    submit with ``_preview`` validates without saving (``is_valid`` is then
    False, with no error, so the admin renders the form again)."""

    class Meta:
        model = PeriodicSchedule
        fields = ("name", "task", "enabled", "cron", "interval", "timezone", "start_time", "end_time", "args",
                  "kwargs", "queue", "priority", "max_instances", "misfire_grace")
        widgets: ClassVar[dict[str, forms.Widget]] = {"args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
                                                      "kwargs": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from symphra_django.conf import time_zone_name

        self.previewing = PREVIEW in self.data
        if "task" not in self.fields:
            return  # shown read-only (view permission only)
        names = sorted(task.name for task in registry)
        choices = [("", "---------")] + [(name, name) for name in names]
        current = self.instance.task
        if current and current not in names:
            choices.append((current, f"{current} (not declared)"))
        # A CharField with a select: the model's clean names an unknown task.
        self.fields["task"].widget = forms.Select(choices=choices)
        self.fields["cron"].widget.attrs["placeholder"] = "*/15 * * * *"
        self.fields["timezone"].widget.attrs["placeholder"] = time_zone_name()

    def is_valid(self) -> bool:
        return super().is_valid() and not self.previewing


class PeriodicScheduleAdmin(admin.ModelAdmin):
    form = PeriodicScheduleForm
    change_form_template = "symphra_django/admin/periodic_schedule_form.html"
    change_list_template = "symphra_django/admin/periodic_schedule_list.html"
    list_display = ("name", "task", "timing", "next_run", "last_run", "enabled")
    list_filter = ("enabled", "task")
    search_fields = ("name", "task")
    actions = ("enable_selected", "disable_selected", "run_selected_now")
    # "When" comes last: the next runs and the Preview button follow it.
    fieldsets = (
        (None, {"fields": ("name", "task", "enabled")}),
        ("Arguments", {"fields": ("args", "kwargs")}),
        ("Delivery", {"fields": ("queue", "priority", "max_instances", "misfire_grace")}),
        ("When", {"fields": ("cron", "interval", "timezone", "start_time", "end_time"),
                  "description": "A cron expression or an interval in seconds."}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicSchedule]:
        # The last run is in the tick ledger, under the schedule's ledger key.
        state = ScheduleState.objects.filter(
            name=Concat(Value(LEDGER_PREFIX), Cast(OuterRef("pk"), CharField())))
        return super().get_queryset(request).annotate(
            last_run_at=Subquery(state.values("last_run_at")[:1]),
            last_status=Subquery(state.values("last_status")[:1]),
        )

    # -- columns ---------------------------------------------------------------

    @admin.display(description="schedule")
    def timing(self, obj: PeriodicSchedule) -> str:
        zone = f" ({obj.timezone})" if obj.timezone else ""
        return format_html("{}<br><code>{}</code>{}", obj.describe(), obj.expression, zone)

    @admin.display(description="next run")
    def next_run(self, obj: PeriodicSchedule) -> str:
        if not obj.enabled:
            return "disabled"
        labels, problem = next_run_labels(obj)
        if problem:
            return format_html('<span class="symphra-bad">{}</span>', problem)
        return labels[0] if labels else "never again"

    @admin.display(description="last run")
    def last_run(self, obj: PeriodicSchedule) -> str:
        at = getattr(obj, "last_run_at", None)
        if at is None:
            return "never"
        return f"{at:%Y-%m-%d %H:%M:%S %Z}: {getattr(obj, 'last_status', '')}"

    # -- the form ----------------------------------------------------------------

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: PeriodicSchedule | None = None) -> Any:
        form = context["adminform"].form
        labels: list[str] = []
        problem = ""
        shown = form.is_bound and not form.errors
        if shown:
            labels, problem = next_run_labels(form.instance)
        elif not form.is_bound and obj is not None:
            shown = True
            labels, problem = next_run_labels(obj)
        can_save = self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        context.update(
            preview_shown=shown,
            next_runs=labels,
            preview_problem=problem,
            preview_blocked=form.is_bound and bool(form.errors),
            preview_enabled=form.instance.enabled,
            can_preview=can_save,
            preview_name=PREVIEW,
        )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {
            "code_schedules_url": reverse("admin:symphra_django_schedulestate_changelist")
            if request.user.has_perm("symphra_django.view_schedulestate") else "",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    # -- actions -------------------------------------------------------------------

    @admin.action(description="Enable selected schedules", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected schedules", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule], enabled: bool) -> None:
        word = "enabled" if enabled else "disabled"
        names = list(queryset.values_list("name", flat=True))
        count = PeriodicSchedule.objects.filter(pk__in=queryset.values("pk")).update(enabled=enabled)
        logger.info("%s %s database schedule(s) %s", request.user, word, ", ".join(names))
        self.message_user(request, f"{count} schedule(s) {word}.", messages.SUCCESS)

    @admin.action(description="Run selected schedules now", permissions=["change"])
    def run_selected_now(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
        for schedule in queryset:
            try:
                message = run_now(entry_of(schedule, registry))
            except Exception as exc:  # noqa: BLE001 - reported to the user, the others still run
                self.message_user(request, f"{schedule.name} was not run: {exc}", messages.ERROR)
                continue
            logger.info("%s ran database schedule %s now (task %s)", request.user, schedule.name, message.id)
            self.message_user(request, f"{schedule.name} enqueued now on {message.queue} (task {message.id}).",
                              messages.SUCCESS)
