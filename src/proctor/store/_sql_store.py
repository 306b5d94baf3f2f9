"""``SQLStore``: the ``Store`` both SQL backends share, every statement written once.

``SQLiteStore`` and ``PostgresStore`` subclass it and fill in the dialect hooks
(``SQLBase``): how to run a statement, a batch and a transaction on their connection,
their errors, and the few words their SQL says differently (``Dialect``).
"""

from __future__ import annotations

from proctor.store._sql_checkpoints import SQLCheckpoints
from proctor.store._sql_queue import SQLRunQueue
from proctor.store._sql_retention import SQLRetention
from proctor.store._sql_runs import SQLRunLog
from proctor.store._sql_series import SQLRunOutcomes, SQLRunSeries
from proctor.store._sql_tables import SQLTables


class SQLStore(
    SQLRunLog, SQLRunSeries, SQLRunOutcomes, SQLRetention, SQLTables, SQLRunQueue, SQLCheckpoints
):
    """Every role of ``Store`` in SQL; a backend adds its connection and ``close``."""
