from django.core.management.base import BaseCommand

from tests.sampleapp.tasks import write_row


class Command(BaseCommand):
    help = "Enqueue COUNT write_row tasks (keys 0..COUNT-1), for end-to-end tests."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--sleep", type=float, default=0.0)

    def handle(self, *args, count, sleep, **options):
        for i in range(count):
            write_row.enqueue(str(i), sleep=sleep)
