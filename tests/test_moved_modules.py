"""Import paths of 0.1's flat modules keep working after the layout by area."""

import importlib

import pytest

from symphra_django._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_imports_the_module_that_holds_its_code_now(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_documented_names_import_from_their_old_modules():
    from symphra_django.backends.database_history import prune_history
    from symphra_django.context import current_message
    from symphra_django.retry import RetryPolicy
    from symphra_django.scheduler import Scheduler
    from symphra_django.status import CONNECT_TIMEOUT

    assert callable(prune_history) and callable(current_message)
    assert RetryPolicy().max_attempts >= 1 and Scheduler and CONNECT_TIMEOUT > 0


def test_patching_an_old_path_patches_the_module_in_use(monkeypatch):
    import symphra_django.runtime.worker as worker
    import symphra_django.worker as old_worker

    monkeypatch.setattr(old_worker, "BUSY_POLL", 0.5)
    assert worker.BUSY_POLL == 0.5


def test_a_path_that_never_existed_still_fails_to_import():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("symphra_django.no_such_module")
