"""What ``manage.py runscheduler`` runs.

``processes`` starts the processes and handles signals; each process runs one
``scheduler.Scheduler``, which owns a ``worker.WorkerPool`` (threads that
claim, run through ``runner.Runner`` and answer the backend), the ``beat``
(periodic ticks, de-duplicated across schedulers by ``ticks``) and the
``housekeeping`` jobs. ``doorbell`` wakes idle worker threads; ``metrics`` and
``throughput`` count what ran.
"""
