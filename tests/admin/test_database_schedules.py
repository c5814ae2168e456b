"""Database schedules in the admin: the form's messages, the next-runs
preview before saving, actions, and who may see and do what."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from symphra_django.admin.periodic import PREVIEW
from symphra_django.models import PeriodicSchedule, ScheduleState
from tests.support.admin import make_user

pytestmark = pytest.mark.django_db

REMEMBER = "tests.sampleapp.tasks.remember"
ADD = "admin:symphra_django_periodicschedule_add"
CHANGELIST = "admin:symphra_django_periodicschedule_changelist"
CODE_PAGE = "admin:symphra_django_schedulestate_changelist"
PERMISSIONS = ("view_periodicschedule", "add_periodicschedule", "change_periodicschedule",
               "delete_periodicschedule")


def form_data(**changes) -> dict[str, str]:
    data = {
        "name": "nightly", "task": REMEMBER, "enabled": "on", "cron": "0 3 * * *", "interval": "",
        "timezone": "", "start_time_0": "", "start_time_1": "", "end_time_0": "", "end_time_1": "",
        "args": '["x"]', "kwargs": "{}", "queue": "", "priority": "", "max_instances": "1", "misfire_grace": "",
    }
    data.update(changes)
    return data


def admin_form(*args, **kwargs):
    """The form the admin builds (its date and time widgets included)."""
    form_class = admin.site._registry[PeriodicSchedule].get_form(RequestFactory().get("/"))
    return form_class(*args, **kwargs)


def change_url(schedule: PeriodicSchedule) -> str:
    return reverse("admin:symphra_django_periodicschedule_change", args=[schedule.pk])


def saved(name="nightly", **fields) -> PeriodicSchedule:
    fields.setdefault("cron", "0 3 * * *")
    return PeriodicSchedule.objects.add(name, REMEMBER, args=["x"], **fields)


@pytest.fixture
def superuser(client, django_user_model, memory):
    client.force_login(django_user_model.objects.create_superuser("root", email="root@example.com"))
    return client


@pytest.fixture
def viewer(client, django_user_model):
    client.force_login(make_user(django_user_model, "viewer", perms=("view_periodicschedule", "view_schedulestate")))
    return client


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# -- the form: one message per bad input ------------------------------------------------


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"task": "os.system"}, "task", "unknown task 'os.system': no task of that name is declared"),
    ({"cron": "61 * * * *"}, "cron", "invalid cron expression '61 * * * *'"),
    ({"cron": "0 0 31 2 *"}, "cron", "cron expression '0 0 31 2 *' never fires"),
    ({"cron": "* * *"}, "cron", "it has 3 field(s); use 5 (minute hour day month weekday) or 6"),
    ({"cron": ""}, "cron", "give a cron expression or an interval in seconds"),
    ({"interval": "60"}, "interval", "give either a cron expression or an interval, not both"),
    ({"cron": "", "interval": "0"}, "interval", "greater than or equal to 1"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
    ({"cron": "", "interval": "60", "timezone": "UTC"}, "timezone", "a time zone applies to cron expressions only"),
    ({"start_time_0": "2031-01-02", "start_time_1": "00:00", "end_time_0": "2031-01-01", "end_time_1": "00:00"},
     "end_time", "the end time must be after the start time"),
    ({"end_time_0": "2001-01-01", "end_time_1": "00:00"}, "end_time", "this schedule would never run again"),
    ({"args": '{"a": 1}'}, "args", "positional arguments must be a JSON list"),
    ({"args": "[1"}, "args", "Enter a valid JSON."),
    ({"kwargs": "[1]"}, "kwargs", "keyword arguments must be a JSON object"),
    ({"args": "[NaN]"}, "args", "positional argument 0 of task 'tests.sampleapp.tasks.remember' is not JSON"),
    ({"args": "[]"}, "args", "missing a required argument: 'value'"),
    ({"queue": "nowhere"}, "queue", "unknown queue 'nowhere' for task"),
    ({"priority": "101"}, "priority", "priority 101 of task 'tests.sampleapp.tasks.remember' is invalid"),
    ({"max_instances": "0"}, "max_instances", "greater than or equal to 1"),
    ({"misfire_grace": "0"}, "misfire_grace", "greater than or equal to 1"),
])
def test_the_form_refuses_each_bad_input_with_a_message_naming_the_problem(changes, field, message):
    form = admin_form(data=form_data(**changes))
    assert not form.is_valid()
    assert any(message in error for error in form.errors.get(field, [])), form.errors


def test_the_task_is_picked_among_the_declared_tasks():
    form = admin_form()
    names = [value for value, _ in form.fields["task"].widget.choices]
    assert REMEMBER in names and "" in names


def test_a_stored_task_that_is_no_longer_declared_is_shown_and_refused():
    schedule = saved()
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(task="old.removed")
    form = admin_form(instance=PeriodicSchedule.objects.get())
    assert ("old.removed", "old.removed (not declared)") in form.fields["task"].widget.choices


# -- the preview of the next five runs -----------------------------------------------


def test_preview_shows_the_next_five_runs_and_saves_nothing(superuser):
    response = superuser.post(reverse(ADD), form_data(**{PREVIEW: "Preview", "timezone": "Europe/Paris"}))
    assert response.status_code == 200
    assert not PeriodicSchedule.objects.exists()
    runs = response.context["next_runs"]
    assert len(runs) == 5
    assert all(re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d 03:00:00 CES?T \(0[12]:00:00 UTC\)", run) for run in runs), runs
    body = text(response.content.decode())
    assert runs[0] in body
    assert "Please correct" not in body


def test_preview_of_bad_input_shows_the_errors_and_no_runs(superuser):
    response = superuser.post(reverse(ADD), form_data(**{PREVIEW: "Preview", "cron": "0 0 31 2 *"}))
    assert response.status_code == 200
    assert response.context["next_runs"] == []
    assert "never fires" in response.content.decode()
    assert "Correct the errors above to see the next runs." in response.content.decode()
    assert not PeriodicSchedule.objects.exists()


def test_preview_of_an_edit_shows_the_new_timing_and_keeps_the_old_one_saved(superuser):
    schedule = saved(cron="0 3 * * *", timezone="UTC")
    response = superuser.post(change_url(schedule), form_data(**{PREVIEW: "Preview", "cron": "30 4 * * *",
                                                                 "timezone": "UTC"}))
    assert all(" 04:30:00 UTC" in run for run in response.context["next_runs"])
    assert PeriodicSchedule.objects.get().cron == "0 3 * * *"


def test_an_interval_preview_lists_runs_one_interval_apart(superuser):
    response = superuser.post(reverse(ADD), form_data(**{PREVIEW: "Preview", "cron": "", "interval": "3600"}))
    hours = [int(re.search(r" (\d\d):00:00 ", run).group(1)) for run in response.context["next_runs"]]
    assert [(b - a) % 24 for a, b in zip(hours, hours[1:], strict=False)] == [1, 1, 1, 1]


def test_save_stores_the_schedule_and_the_change_form_shows_its_next_runs(superuser):
    response = superuser.post(reverse(ADD), form_data(kwargs="{}", priority="3", queue="emails"))
    assert response.status_code == 302
    schedule = PeriodicSchedule.objects.get()
    assert (schedule.name, schedule.task, schedule.cron, schedule.args) == ("nightly", REMEMBER, "0 3 * * *", ["x"])
    assert (schedule.queue, schedule.priority) == ("emails", 3)
    page = superuser.get(change_url(schedule))
    assert len(page.context["next_runs"]) == 5
    assert 'name="_preview"' in page.content.decode()


def test_a_save_with_bad_input_saves_nothing_and_says_why(superuser):
    response = superuser.post(reverse(ADD), form_data(task="os.system"))
    assert response.status_code == 200
    assert "unknown task" in response.content.decode()
    assert not PeriodicSchedule.objects.exists()


# -- actions and the lists -------------------------------------------------------------


def test_enable_disable_and_run_now_actions(superuser, memory):
    first, second = saved("a"), saved("b")
    url = reverse(CHANGELIST)
    superuser.post(url, {"action": "disable_selected", "_selected_action": [first.pk, second.pk]})
    assert list(PeriodicSchedule.objects.values_list("enabled", flat=True)) == [False, False]
    superuser.post(url, {"action": "enable_selected", "_selected_action": [first.pk]})
    assert PeriodicSchedule.objects.get(pk=first.pk).enabled is True
    superuser.post(url, {"action": "run_selected_now", "_selected_action": [second.pk]})
    [message] = memory.peek_sync("default")
    assert (message.name, message.args) == (REMEMBER, ["x"])
    assert message.meta == {"schedule": second.ledger_key, "run_now": True}


def test_the_changelist_shows_each_schedule_with_its_next_run_and_links_to_the_code_schedules(superuser):
    saved("nightly", cron="0 3 * * *", timezone="UTC")
    saved("off", enabled=False)
    body = superuser.get(reverse(CHANGELIST)).content.decode()
    assert "Every day at 03:00" in body and "0 3 * * *" in body
    assert re.search(r"\d{4}-\d\d-\d\d 03:00:00 UTC", body)
    assert "disabled" in body
    assert reverse(CODE_PAGE) in body


def test_the_schedules_page_lists_code_and_database_schedules_together(superuser):
    schedule = saved("nightly", cron="0 3 * * *", timezone="UTC")
    ScheduleState.objects.create(name=schedule.ledger_key, last_run_at="2026-01-01T03:00:00Z",
                                 last_status="failed", last_error="it broke")
    body = superuser.get(reverse(CODE_PAGE)).content.decode()
    assert "tests.sampleapp.tasks.every_second" in body  # declared in code
    row = re.search(r'<tr data-name="nightly">(.*?)</tr>', body, re.S).group(1)
    assert f'href="{change_url(schedule)}"' in row
    assert "Every day at 03:00" in row and re.search(r"03:00:00 UTC", row)
    assert "2026-01-01 03:00:00 UTC: failed" in text(row) and "it broke" in row
    assert reverse(ADD) in body


# -- permissions -------------------------------------------------------------------------


def test_a_superuser_may_add_change_and_delete(superuser):
    schedule = saved()
    assert superuser.get(reverse(ADD)).status_code == 200
    assert superuser.post(change_url(schedule), form_data(cron="0 4 * * *")).status_code == 302
    delete = reverse("admin:symphra_django_periodicschedule_delete", args=[schedule.pk])
    assert superuser.post(delete, {"post": "yes"}).status_code == 302
    assert not PeriodicSchedule.objects.exists()


def test_a_view_only_user_sees_everything_and_no_control(viewer):
    schedule = saved()
    changelist = viewer.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    body = changelist.content.decode()
    assert "nightly" in body
    assert 'name="action"' not in body, "no actions menu"
    assert reverse(ADD) not in body
    form = viewer.get(change_url(schedule))
    assert form.status_code == 200
    page = form.content.decode()
    assert len(form.context["next_runs"]) == 5
    for control in ('name="_preview"', 'name="_save"', 'name="_continue"', "deletelink"):
        assert control not in page, control
    code_page = viewer.get(reverse(CODE_PAGE)).content.decode()
    assert f'href="{change_url(schedule)}"' in code_page
    assert reverse(ADD) not in code_page


def test_a_view_only_user_can_neither_add_change_delete_nor_act(viewer, memory):
    schedule = saved()
    assert viewer.get(reverse(ADD)).status_code == 403
    assert viewer.post(reverse(ADD), form_data(name="other")).status_code == 403
    assert viewer.post(change_url(schedule), form_data(cron="0 4 * * *")).status_code == 403
    delete = reverse("admin:symphra_django_periodicschedule_delete", args=[schedule.pk])
    assert viewer.post(delete, {"post": "yes"}).status_code == 403
    viewer.post(reverse(CHANGELIST), {"action": "disable_selected", "_selected_action": [schedule.pk]})
    viewer.post(reverse(CHANGELIST), {"action": "run_selected_now", "_selected_action": [schedule.pk]})
    assert PeriodicSchedule.objects.values_list("cron", "enabled").get() == ("0 3 * * *", True)
    assert memory.peek_sync("default") == []


def test_staff_without_permissions_gets_403_everywhere(client, django_user_model):
    schedule = saved()
    client.force_login(make_user(django_user_model, "staff"))
    for url in (reverse(CHANGELIST), reverse(ADD), change_url(schedule)):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse(ADD), form_data(name="other")).status_code == 403


def test_the_add_permission_alone_allows_adding_and_previewing(client, django_user_model):
    client.force_login(make_user(django_user_model, "adder", perms=("add_periodicschedule",)))
    assert client.post(reverse(ADD), form_data(**{PREVIEW: "Preview"})).status_code == 200
    assert client.post(reverse(ADD), form_data()).status_code == 302
    assert PeriodicSchedule.objects.count() == 1
