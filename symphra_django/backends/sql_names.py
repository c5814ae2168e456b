"""Quoted table and column names of a model, for hand-written SQL.

The database backend and the RabbitMQ ledger write their hot statements by
hand; both take every identifier from the model's ``_meta``, quoted by the
connection that runs them (never from settings or input).
"""

from __future__ import annotations

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class TableNames:
    """``table``: the quoted table; ``col[attname]``: the quoted column;
    ``max_params``: how many parameters one statement may carry."""

    def __init__(self, connection: BaseDatabaseWrapper, model: type[models.Model]) -> None:
        qn = connection.ops.quote_name
        meta = model._meta
        self.table = qn(meta.db_table)
        self.col = {f.attname: qn(f.column) for f in meta.concrete_fields}
        self.max_params = connection.features.max_query_params or 60_000
