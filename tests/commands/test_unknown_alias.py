"""An alias that is not configured is said one way everywhere: the code API
and every command that takes one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from symphra_django.backends import backends
from symphra_django.backends.database.history import prune_history

TWO_ALIASES = {"BACKENDS": {"default": {"BACKEND": "memory"}, "fast": {"BACKEND": "memory"}}}
SAID = "unknown backend alias 'nope'; configured aliases are 'default', 'fast' (settings.SYMPHRA['BACKENDS'])"


@pytest.mark.parametrize("command", [
    ("runscheduler", "--backend", "nope", "--burst"),
    ("taskstatus", "--backend", "nope"),
    ("movetasks", "nope", "default"),
    ("movetasks", "default", "nope"),
])
@override_settings(SYMPHRA=TWO_ALIASES)
def test_every_command_says_an_unknown_alias_the_same_way(command):
    with pytest.raises(CommandError) as raised:
        call_command(*command)
    assert str(raised.value) == SAID


@override_settings(SYMPHRA=TWO_ALIASES)
def test_the_code_api_says_it_the_same_way():
    with pytest.raises(ImproperlyConfigured) as raised:
        backends["nope"]
    assert str(raised.value) == SAID


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "database"}}})
def test_prunetasks_says_an_unknown_queue_database_in_the_same_shape():
    said = ("unknown queue database 'nope'; configured aliases are 'default' (the settings.DATABASES aliases "
            "that the database backends of settings.SYMPHRA['BACKENDS'] use)")
    with pytest.raises(CommandError) as raised:
        call_command("prunetasks", "--database", "nope", "--older-than", "1d")
    assert str(raised.value) == said
    with pytest.raises(ValueError) as raised_by_code:
        prune_history(0, databases=["nope"])
    assert str(raised_by_code.value) == said
