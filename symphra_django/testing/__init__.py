"""The backend contract kit: the queue contract as pytest tests.

Every built-in backend passes these tests; a custom backend proves it keeps
the same contract by running them (see ``docs/custom-backends.md``):

    from symphra_django.testing import BackendContractTests

    class TestMyBackend(BackendContractTests):
        def make_backend(self, **options):
            return MyBackend(alias="contract", **options)

This package imports pytest, which symphra_django itself does not need:
install it with the ``testing`` extra (``pip install symphra-django[testing]``).
Nothing else in symphra_django imports this package.
"""

import pytest

# Plain asserts in an installed package are not rewritten by pytest unless it
# is told before the import; with it, a failing rule shows the values compared.
pytest.register_assert_rewrite(
    "symphra_django.testing.harness", "symphra_django.testing.contract", "symphra_django.testing.hostile",
    "symphra_django.testing.workers",
)

from symphra_django.testing.contract import (  # noqa: E402
    BackendContractTests,
    ClearAndHealthRules,
    DeliveryLimitRules,
    DueTimeRules,
    FailedStoreRules,
    LeaseExpiryRules,
    LeasingRules,
    PayloadSafetyRules,
    PriorityOrderRules,
    QueueIsolationRules,
    RejectRules,
    SizeAndStatsRules,
    StoringRules,
)
from symphra_django.testing.harness import ContractHarness, delivery_limit, message  # noqa: E402
from symphra_django.testing.hostile import HostileInputRules  # noqa: E402
from symphra_django.testing.waiting import wait_for_time, wait_until  # noqa: E402
from symphra_django.testing.workers import WorkerRegistryRules  # noqa: E402

__all__ = [
    "BackendContractTests",
    "ClearAndHealthRules",
    "ContractHarness",
    "DeliveryLimitRules",
    "DueTimeRules",
    "FailedStoreRules",
    "HostileInputRules",
    "LeaseExpiryRules",
    "LeasingRules",
    "PayloadSafetyRules",
    "PriorityOrderRules",
    "QueueIsolationRules",
    "RejectRules",
    "SizeAndStatsRules",
    "StoringRules",
    "WorkerRegistryRules",
    "delivery_limit",
    "message",
    "wait_for_time",
    "wait_until",
]
