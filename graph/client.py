"""The one place that owns a Neo4j driver.

Ingestion, export and write-back receive a :class:`GraphClient`; nothing else imports ``neo4j``.
Every query is loaded by name from ``cypher/``, runs with ``$parameters`` only, carries
transaction metadata (app, version, query name) so it can be found in ``SHOW TRANSACTIONS``
and the query log, and declares read or write so the driver routes and retries it correctly
(managed transactions retry transient errors; callers keep writes idempotent).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import neo4j
from pydantic import BaseModel

from core import __version__
from core.errors import AuthenticationRateLimited
from core.settings import Neo4jSettings
from graph.errors import mapped_errors
from graph.queries import Query, load_query

T = TypeVar("T")
P = ParamSpec("P")


class _QuietList(list):  # type: ignore[type-arg]
    """A list whose repr is a summary.

    The driver (6.x) formats ``repr`` of every query's parameters for a debug log line even
    when debug logging is off; for 1.28M floats that took 1.6 s, ten times the cost of sending
    them. Packing treats this subclass as the plain list it is.
    """

    def __repr__(self) -> str:
        return f"<list of {len(self)}>"


class _QuietDict(dict):  # type: ignore[type-arg]
    """A map parameter whose repr is a summary (its lists may be long, as above)."""

    def __repr__(self) -> str:
        return f"<map of {', '.join(map(str, self))}>"


def _quiet(value: Any) -> Any:
    if isinstance(value, list):
        return _QuietList(value)
    if isinstance(value, dict):
        return _QuietDict(value)
    return value


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _quiet(v) for k, v in params.items()}


class ServerInfo(BaseModel):
    neo4j_version: str
    edition: str
    gds_version: str | None


class WriteSummary(BaseModel):
    """Counters from one write, summed over its statements."""

    nodes_created: int = 0
    nodes_deleted: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0
    constraints_added: int = 0
    indexes_added: int = 0

    def add(self, counters: neo4j.SummaryCounters) -> None:
        for field in type(self).model_fields:
            setattr(self, field, getattr(self, field) + getattr(counters, field))


def _patient(method: Callable[P, T]) -> Callable[P, T]:
    """Retry ``method`` while Neo4j refuses logins after others' failed attempts (its lock
    lasts seconds), with backoff, for up to ``settings.auth_retry_s``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        client = args[0]
        assert isinstance(client, GraphClient)
        deadline = time.monotonic() + client.settings.auth_retry_s
        pause = 0.5
        while True:
            try:
                return method(*args, **kwargs)
            except AuthenticationRateLimited:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    return wrapper


class GraphClient:
    """A driver plus the conventions above. Use as a context manager, or call :meth:`close`."""

    def __init__(self, settings: Neo4jSettings) -> None:
        self.settings = settings
        password = settings.password.get_secret_value() if settings.password else ""
        self._driver = neo4j.GraphDatabase.driver(
            settings.uri,
            auth=(settings.user, password),
            connection_timeout=settings.connect_timeout_s,
            user_agent=f"profilegraph/{__version__}",
            notifications_min_severity="OFF",
            # Transient errors (concurrent ingest writers deadlocking on a shared item) are
            # retried after 50 ms, doubling, instead of the driver's 1 s: a deadlock costs a
            # retry, not a second of an online writer's time.
            initial_retry_delay=0.05,
            retry_delay_jitter_factor=0.5,
            max_transaction_retry_time=settings.retry_s,
        )
        # One bookmark manager for all of this client's sessions: under a routed URI a read
        # (on a secondary) waits until it has every write this client committed (on the
        # leader), so a refresh reads what it just wrote. One server: nothing to wait for.
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        # which server-side procedures the server has (asked once each): the project's own
        # server has graph/plugin's, a stock one (Aura, the compose image) falls back to Cypher
        self.procedures: dict[str, bool] = {}
        self._reached = False  # a read has answered: later reads retry through a restart

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._driver.close()

    def __repr__(self) -> str:
        return f"GraphClient({self.settings.uri}, database={self.settings.database!r})"

    # -- queries -----------------------------------------------------------------------------

    @staticmethod
    def _metadata(query: Query) -> dict[str, str]:
        return {"app": "profilegraph", "version": __version__, "query": query.name}

    def _statement(self, query: Query, text: str | None = None) -> neo4j.Query:
        return neo4j.Query(text or query.text, metadata=self._metadata(query))  # type: ignore[arg-type]

    @_patient
    def read(
        self, name: str | Query, *, timeout_s: float | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Run a read query and return its rows as dicts (for small results).

        Once this client has reached its server, a read rides out a restart as writes do (a
        managed transaction, retried for ``settings.retry_s``); before that it fails at once,
        so a command pointed at a server that is not there says so without waiting."""
        if not self._reached:
            rows = list(self.stream(name, timeout_s=timeout_s, **params))
            self._reached = True
            return rows
        query = self._checked(name, "read")

        @neo4j.unit_of_work(metadata=self._metadata(query), timeout=timeout_s)
        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return [dict(record) for record in tx.run(query.text, _params(params))]

        with mapped_errors(query.name, params), self._session("read") as session:
            return session.execute_read(work)

    def stream(
        self, name: str | Query, *, timeout_s: float | None = None, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield rows of a read query as they arrive, without buffering the whole result.
        ``timeout_s``: the server ends the transaction after that long."""
        query = self._checked(name, "read")
        with mapped_errors(query.name, params), self._session("read") as session:
            tx = session.begin_transaction(metadata=self._metadata(query), timeout=timeout_s)
            try:
                for record in tx.run(query.text, _params(params)):
                    yield dict(record)
            finally:
                tx.close()

    @_patient
    def write(self, name: str | Query, **params: Any) -> WriteSummary:
        """Run a write query in one managed (retried) transaction."""
        query = self._checked(name, "write")

        @neo4j.unit_of_work(metadata=self._metadata(query))
        def work(tx: neo4j.ManagedTransaction) -> WriteSummary:
            summary = WriteSummary()  # fresh per attempt: a retried attempt must not add up
            summary.add(tx.run(query.text, _params(params)).consume().counters)
            return summary

        with mapped_errors(query.name, params), self._session("write") as session:
            return session.execute_write(work)

    @_patient
    def write_rows(self, name: str | Query, **params: Any) -> int:
        """Run a write query whose single row holds a count (``RETURN count(*) AS written``)."""
        query = self._checked(name, "write")

        @neo4j.unit_of_work(metadata=self._metadata(query))
        def work(tx: neo4j.ManagedTransaction) -> int:
            record = tx.run(query.text, _params(params)).single()
            return int(record[0]) if record else 0

        with mapped_errors(query.name, params), self._session("write") as session:
            return session.execute_write(work)

    @_patient
    def transaction(
        self,
        work: Callable[[Transaction], T],
        *,
        name: str,
        timings: dict[str, float] | None = None,
    ) -> T:
        """Run ``work`` in one managed write transaction (retried whole on transient errors).

        ``work`` may run more than once, so it must not have side effects outside Neo4j.
        ``timings``: each query's seconds by name in the attempt that committed, and
        ``transaction``: the whole call (the rest is the commit and ``work``'s own Python).
        """

        @neo4j.unit_of_work(metadata={"app": "profilegraph", "version": __version__, "query": name})
        def unit(tx: neo4j.ManagedTransaction) -> T:
            if timings is not None:
                timings.clear()  # a retried attempt starts over
            return work(Transaction(tx, timings))

        with mapped_errors(name), self._session("write") as session:
            started = time.perf_counter()
            result = session.execute_write(unit)
            if timings is not None:
                timings["transaction"] = time.perf_counter() - started
            return result

    @_patient
    def run_statements(self, name: str) -> WriteSummary:
        """Run each statement of a multi-statement file (DDL), each in its own transaction."""
        query = load_query(name)
        summary = WriteSummary()
        with mapped_errors(name), self._session("write") as session:
            for text in query.statements():
                summary.add(session.run(self._statement(query, text)).consume().counters)
        return summary

    def explain(self, name: str | Query, **params: Any) -> list[str]:
        """The operator names of a query's plan (for tests that check index use)."""
        query = self._checked(name, "read")
        with mapped_errors(query.name, params), self._session("read") as session:
            plan = session.run("EXPLAIN " + query.text, _params(params)).consume().plan or {}
        names: list[str] = []
        stack = [plan]
        while stack:
            node = stack.pop()
            names.append(str(node.get("operatorType", "")).split("@")[0])
            stack.extend(node.get("children", []))
        return names

    # -- server ------------------------------------------------------------------------------

    @_patient
    def ping(self) -> None:
        """Raise unless the server answers and accepts our credentials."""
        with mapped_errors("ping"):
            self._driver.verify_connectivity()

    def has_procedure(self, name: str) -> bool:
        """Whether the server has procedure ``name`` (cached in :attr:`procedures`; tests set
        an entry to take the other path)."""
        if name not in self.procedures:
            row = self.read("has_procedure", procedure=name)[0]
            self.procedures[name] = bool(row["installed"])
        return self.procedures[name]

    def server_info(self) -> ServerInfo:
        rows = self.read("server_info")
        return ServerInfo(**rows[0])

    # -- internals ---------------------------------------------------------------------------

    def _session(self, mode: str) -> neo4j.Session:
        access = neo4j.READ_ACCESS if mode == "read" else neo4j.WRITE_ACCESS
        return self._driver.session(
            database=self.settings.database,
            default_access_mode=access,
            bookmark_manager=self._bookmarks,
        )

    @staticmethod
    def _checked(name: str | Query, mode: str) -> Query:
        """Load a query by name (or take a built one) and check its declared mode."""
        query = name if isinstance(name, Query) else load_query(name)
        if query.mode != mode:
            raise ValueError(f"query {query.name!r} is declared '{query.mode}', called as '{mode}'")
        return query


class Transaction:
    """One managed write transaction: several named queries that commit or fail together.
    ``timings``, when given, adds up each query's seconds by name (benches read it)."""

    def __init__(
        self, tx: neo4j.ManagedTransaction, timings: dict[str, float] | None = None
    ) -> None:
        self._tx = tx
        self.summary = WriteSummary()
        self.timings = timings

    def run(self, name: str | Query, **params: Any) -> list[dict[str, Any]]:
        # Driver errors pass through unchanged: the driver retries the whole transaction on a
        # transient one (deadlock, restart) only if it sees it; GraphClient.transaction maps
        # what is left after its retries.
        query = name if isinstance(name, Query) else load_query(name)
        started = time.perf_counter()
        try:
            result = self._tx.run(query.text, _params(params))
            rows = [dict(record) for record in result]
            self.summary.add(result.consume().counters)
        except Exception as exc:
            exc.add_note(f"in query {query.name} (parameters: {', '.join(sorted(params))})")
            raise
        if self.timings is not None:
            key = query.name.split("[")[0]
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - started
        return rows
