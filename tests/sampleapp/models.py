from django.db import models


class Run(models.Model):
    """One execution of ``write_row``: tests count these across processes."""

    key = models.CharField(max_length=200)
    pid = models.IntegerField()
    at = models.FloatField()

    class Meta:
        db_table = "sampleapp_run"
