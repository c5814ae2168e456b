"""The admin of symphra_django ("Symphra tasks" on the admin index).

* Queues: the dashboard of every backend alias and queue, a queue's next due
  tasks, purge (``queues``).
* Failed tasks of every backend, retry and delete in bulk (``failed``).
* Schedules: pause, resume, run now (``schedules``).
* Database schedules: create, edit, enable/disable, delete (``periodic``).
* Queued tasks: the database backend's rows and history (``queued_tasks``).
* Workers: the runscheduler processes, what they run, the ticks, stop (``workers``).

Permissions are documented in docs/admin.md.
"""

from django.contrib import admin

from symphra_django.admin import queued_tasks  # noqa: F401 - registers QueuedTaskAdmin
from symphra_django.admin.failed import FailedTaskAdmin
from symphra_django.admin.periodic import PeriodicScheduleAdmin
from symphra_django.admin.queues import QueueAdmin
from symphra_django.admin.schedules import ScheduleStateAdmin
from symphra_django.admin.workers import WorkerAdmin
from symphra_django.models import FailedTask, PeriodicSchedule, Queue, ScheduleState, Worker

admin.site.register(Queue, QueueAdmin)
admin.site.register(FailedTask, FailedTaskAdmin)
admin.site.register(ScheduleState, ScheduleStateAdmin)
admin.site.register(PeriodicSchedule, PeriodicScheduleAdmin)
admin.site.register(Worker, WorkerAdmin)
