from django.core.management.base import BaseCommand

from demo.tasks import check_status, flaky_import, send_welcome_email


class Command(BaseCommand):
    help = "Enqueue the demo's on-demand example tasks (as the demo view does)."

    def handle(self, *args, **options):
        send_welcome_email.enqueue(1)
        send_welcome_email.enqueue(2, template="reminder", delay=10)
        check_status.enqueue("database")
        flaky_import.enqueue("demo")
        self.stdout.write("Enqueued 4 example tasks; runscheduler will run them.")
