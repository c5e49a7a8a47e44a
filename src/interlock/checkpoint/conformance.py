"""The store conformance suite: what every `BaseSaver` must do, as pytest tests.

Use it for a store of your own::

    from interlock.checkpoint.conformance import SaverConformance

    class TestMyStore(SaverConformance):
        @pytest.fixture
        def saver(self):
            with MyStore(...) as s:
                yield s

The suite is split like the protocol, one part per concept, so a store can be built and
tested one concept at a time (checkpoints first: every other part writes some):
`CheckpointConformance`, `InterruptIndexConformance`, `AuditLogConformance`,
`ThreadsConformance`, `RunQueueConformance`, `EventLogConformance`, `VotesConformance`,
`GraphVersionsConformance`, `GrantsConformance`, `WorkerVersionsConformance`,
`ItemsConformance`, `ItemSearchConformance`, `AssistantsConformance`, `CronsConformance`.
The suite
(this module, `_testkit` and the rooms' `conformance` modules) imports pytest; `import
interlock` never imports it.
"""

from __future__ import annotations

from interlock.checkpoint._assistants.conformance import AssistantsConformance
from interlock.checkpoint._audit.conformance import AuditLogConformance
from interlock.checkpoint._checkpoints.conformance import CheckpointConformance
from interlock.checkpoint._crons.conformance import CronsConformance
from interlock.checkpoint._events.conformance import EventLogConformance
from interlock.checkpoint._grants.conformance import GrantsConformance
from interlock.checkpoint._interrupts.conformance import InterruptIndexConformance
from interlock.checkpoint._items.conformance import ItemsConformance
from interlock.checkpoint._items.conformance_search import ItemSearchConformance
from interlock.checkpoint._runs.conformance import RunQueueConformance
from interlock.checkpoint._testkit import make_interrupt, make_record
from interlock.checkpoint._threads.conformance import ThreadsConformance
from interlock.checkpoint._versions.conformance import GraphVersionsConformance
from interlock.checkpoint._votes.conformance import VotesConformance
from interlock.checkpoint._workers.conformance import WorkerVersionsConformance

__all__ = [
    "AssistantsConformance",
    "AuditLogConformance",
    "CheckpointConformance",
    "CronsConformance",
    "EventLogConformance",
    "GrantsConformance",
    "GraphVersionsConformance",
    "InterruptIndexConformance",
    "ItemSearchConformance",
    "ItemsConformance",
    "RunQueueConformance",
    "SaverConformance",
    "ThreadsConformance",
    "VotesConformance",
    "WorkerVersionsConformance",
    "make_interrupt",
    "make_record",
]


class SaverConformance(
    CheckpointConformance,
    InterruptIndexConformance,
    AuditLogConformance,
    ThreadsConformance,
    RunQueueConformance,
    EventLogConformance,
    VotesConformance,
    GraphVersionsConformance,
    GrantsConformance,
    WorkerVersionsConformance,
    ItemsConformance,
    AssistantsConformance,
    ItemSearchConformance,
    CronsConformance,
):
    """Every part: the tests every store passes. Subclasses provide a `saver` fixture."""
