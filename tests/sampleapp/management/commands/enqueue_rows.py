from django.core.management.base import BaseCommand

from symphra_django.backends import backends
from symphra_django.tasks.base import EnqueueOptions
from tests.sampleapp.tasks import write_row


class Command(BaseCommand):
    help = "Enqueue COUNT write_row tasks (keys 0..COUNT-1) in batches of 500, for end-to-end tests."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--sleep", type=float, default=0.0)

    def handle(self, *args, count, sleep, **options):
        backend = backends[write_row.backend]
        messages = [write_row.message([str(i)], {"sleep": sleep}, EnqueueOptions()) for i in range(count)]
        for start in range(0, count, 500):
            batch = messages[start : start + 500]
            assert backend.enqueue_many_sync(batch) == len(batch)
