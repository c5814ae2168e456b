"""``manage.py schedules``: list, show, add, remove, enable and disable the
schedules kept in the database, validated as in the admin."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from symphra_django.models import PeriodicSchedule

pytestmark = pytest.mark.django_db

REMEMBER = "tests.sampleapp.tasks.remember"


def run(*args: str) -> str:
    out = StringIO()
    call_command("schedules", *args, stdout=out)
    return out.getvalue()


def test_help_lists_the_actions_and_examples(capsys):
    with pytest.raises(SystemExit):
        call_command("schedules", "--help")
    text = capsys.readouterr().out
    for word in ("list", "show", "add", "remove", "enable", "disable", "examples:", "within one tick"):
        assert word in text


def test_add_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        call_command("schedules", "add", "--help")
    text = capsys.readouterr().out
    for option in ("--task", "--cron", "--interval", "--args", "--kwargs", "--timezone", "--start", "--end",
                   "--misfire-grace", "--max-instances", "--queue", "--priority", "--disabled", "--replace"):
        assert option in text


def test_add_saves_a_schedule_and_prints_its_next_runs():
    out = run("add", "nightly", "--task", REMEMBER, "--cron", "0 3 * * *", "--timezone", "UTC",
              "--args", '["x"]', "--queue", "emails", "--priority", "5", "--max-instances", "2")
    schedule = PeriodicSchedule.objects.get(name="nightly")
    assert (schedule.task, schedule.cron, schedule.timezone, schedule.args) == (REMEMBER, "0 3 * * *", "UTC", ["x"])
    assert (schedule.queue, schedule.priority, schedule.max_instances) == ("emails", 5, 2)
    assert out.startswith(f"Saved schedule nightly: Every day at 03:00 → {REMEMBER}.\nnext runs:\n")
    assert out.count(" 03:00:00 UTC") == 5


@pytest.mark.parametrize(("given", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_an_interval_takes_a_unit(given, seconds):
    run("add", "s", "--task", REMEMBER, "--interval", given, "--kwargs", '{"value": 1}')
    assert PeriodicSchedule.objects.get().interval == seconds


def test_start_and_end_are_iso_datetimes_read_in_the_current_zone_without_an_offset():
    run("add", "s", "--task", REMEMBER, "--interval", "60", "--args", "[1]",
        "--start", "2031-01-01T08:00", "--end", "2031-02-01T08:00+01:00")
    schedule = PeriodicSchedule.objects.get()
    assert schedule.start_time.isoformat() == "2031-01-01T08:00:00+00:00"  # TIME_ZONE is UTC
    assert schedule.end_time.isoformat() == "2031-02-01T07:00:00+00:00"


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "os.system", "--cron", "* * * * *"], "task: unknown task 'os.system'"),
    (["--task", REMEMBER, "--cron", "0 0 31 2 *", "--args", "[1]"], "cron: cron expression '0 0 31 2 *' never fires"),
    (["--task", REMEMBER, "--interval", "5 minutes"], "--interval '5 minutes' is not a number of seconds"),
    (["--task", REMEMBER, "--interval", "60", "--args", "[1"], "--args is not valid JSON"),
    (["--task", REMEMBER, "--interval", "60", "--args", '{"a": 1}'], "--args must be a JSON list"),
    (["--task", REMEMBER, "--interval", "60", "--args", "[1]", "--start", "tomorrow"],
     "--start 'tomorrow' is not an ISO 8601 date and time"),
    (["--task", REMEMBER, "--interval", "60", "--args", "[1]", "--timezone", "UTC"],
     "timezone: a time zone applies to cron expressions only"),
])
def test_add_refuses_bad_input_with_a_message_naming_the_problem(args, message):
    with pytest.raises(CommandError) as caught:
        run("add", "s", *args)
    assert message in str(caught.value)
    assert not PeriodicSchedule.objects.exists()


def test_cron_and_interval_are_exclusive_and_one_is_required(capsys):
    with pytest.raises(CommandError, match="one of the arguments --cron --interval is required"):
        run("add", "s", "--task", REMEMBER)
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("add", "s", "--task", REMEMBER, "--cron", "* * * * *", "--interval", "60")


def test_add_of_an_existing_name_needs_replace():
    run("add", "s", "--task", REMEMBER, "--interval", "60", "--args", "[1]")
    with pytest.raises(CommandError, match="already exists"):
        run("add", "s", "--task", REMEMBER, "--interval", "30", "--args", "[1]")
    run("add", "s", "--task", REMEMBER, "--interval", "30", "--args", "[1]", "--replace")
    assert PeriodicSchedule.objects.get().interval == 30


def test_list_shows_every_schedule_and_json_is_for_scripts():
    assert run("list") == "No schedule is kept in the database.\n"
    run("add", "b-heartbeat", "--task", REMEMBER, "--interval", "30s", "--args", "[1]")
    run("add", "a-nightly", "--task", REMEMBER, "--cron", "0 3 * * *", "--args", "[1]", "--disabled")
    lines = run("list").splitlines()
    assert lines[0].split() == ["name", "task", "schedule", "enabled", "next", "run"]
    assert lines[1].startswith("a-nightly") and "0 3 * * * (Every day at 03:00)" in lines[1]
    assert lines[1].split()[-2:] == ["no", "disabled"]
    assert lines[2].startswith("b-heartbeat") and "every 30s (Every 30 seconds)" in lines[2]
    listed = json.loads(run("list", "--json"))
    assert [(s["name"], s["enabled"]) for s in listed] == [("a-nightly", False), ("b-heartbeat", True)]
    assert listed[1]["next_run"].endswith("+00:00")


def test_show_prints_one_schedule_and_its_next_five_runs():
    run("add", "s", "--task", REMEMBER, "--cron", "0 3 * * *", "--timezone", "UTC", "--kwargs", '{"value": 2}')
    out = run("show", "s")
    assert "task: tests.sampleapp.tasks.remember" in out
    assert 'kwargs: {"value": 2}' in out
    assert out.count(" 03:00:00 UTC") == 5


def test_enable_disable_and_remove():
    run("add", "s", "--task", REMEMBER, "--interval", "60", "--args", "[1]")
    assert run("disable", "s") == "Schedule s disabled.\n"
    assert PeriodicSchedule.objects.get().enabled is False
    assert run("enable", "s") == "Schedule s enabled.\n"
    assert PeriodicSchedule.objects.get().enabled is True
    assert run("remove", "s") == "Removed schedule s.\n"
    assert not PeriodicSchedule.objects.exists()


@pytest.mark.parametrize("action", ["show", "remove", "enable", "disable"])
def test_an_unknown_name_is_an_error_listing_the_schedules(action):
    run("add", "known", "--task", REMEMBER, "--interval", "60", "--args", "[1]")
    with pytest.raises(CommandError, match=r"no database schedule named 'nope' \(schedules: known\)"):
        run(action, "nope")
