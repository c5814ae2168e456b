"""The benchmark's task: a no-op that records when it started (benchmarks.recorder)."""

from symphra_django import task
from symphra_django.tasks.context import current_message

from . import recorder


@task(name="benchmarks.noop")
def noop(*args: object) -> None:
    message = current_message()
    recorder.record(message.scheduled_time if message else 0.0)
