"""Every exception this project raises on purpose, in one tree.

The CLI catches :class:`ProfilegraphError` once and prints ``Name: message``; workers retry
exactly the classes in :data:`TRANSIENT` (plus the broker's own connection errors, see
``workers.tasks``). ``graph.errors`` maps Neo4j driver exceptions onto this tree at one
boundary::

    ProfilegraphError
    ├── ConfigError               settings missing or inconsistent
    ├── ServiceError              a local service could not be installed, started or reached
    │   ├── ServiceStartError     the process did not come up (log tail in the message)
    │   ├── ServiceUnavailable    nothing answers at the address (transient)
    │   ├── AuthenticationFailed  something answers, but the password is wrong
    │   └── AuthenticationRateLimited  too many failed logins for the user (transient)
    ├── ProcessError              a worker or beat process did not come up
    ├── GraphError                anything else Neo4j said
    │   ├── QueryError            the query or its parameters are wrong (fix the call)
    │   │   ├── QuerySyntaxError
    │   │   └── ConstraintViolation
    │   ├── TransientGraphError   deadlock, leader switch, memory pressure (transient)
    │   └── DatabaseError         the server failed; read its log
    ├── QueryParameterError       an analyst query's parameter is missing or malformed
    ├── PayloadError              a task message does not validate (never retried)
    └── JobError                  a job could not be submitted, found, followed, or it failed
"""


class ProfilegraphError(Exception):
    """Base of every error this project raises on purpose."""

    transient: bool = False


class ConfigError(ProfilegraphError):
    """A setting is missing, malformed, or contradicts the state on disk."""


class ServiceError(ProfilegraphError):
    """A local service (Neo4j, Redis) could not be installed, started or reached."""


class ServiceStartError(ServiceError):
    """The service process exited or never answered; the message carries its log tail."""


class ServiceUnavailable(ServiceError):
    """Nothing answers at the configured address; retrying later may succeed."""

    transient = True


class AuthenticationFailed(ServiceError):
    """The service answered but refused the credentials from settings."""


class AuthenticationRateLimited(ServiceError):
    """The server refuses logins for the user for a while after repeated failed attempts (by
    anyone); the right password works again once the lock time has passed."""

    transient = True


class ProcessError(ProfilegraphError):
    """A worker or beat process did not come up."""


class GraphError(ProfilegraphError):
    """Neo4j refused or failed a query."""


class QueryError(GraphError):
    """The query text or its parameters are wrong; retrying will not help."""


class QuerySyntaxError(QueryError):
    """Cypher did not parse, or named an unknown function or procedure."""


class ConstraintViolation(QueryError):
    """A write broke a uniqueness or existence constraint."""


class TransientGraphError(GraphError):
    """A temporary server condition (deadlock, memory pressure); retrying later may succeed."""

    transient = True


class DatabaseError(GraphError):
    """The server itself failed; its log (``profilegraph services logs``) says why."""


class QueryParameterError(ProfilegraphError):
    """An analyst query's parameter is missing, unknown or malformed."""


class PayloadError(ProfilegraphError, ValueError):
    """A task was given a payload that does not validate; never retried."""


class JobError(ProfilegraphError):
    """A job could not be submitted, found or followed, or it ended failed or cancelled."""


# The project's own transient errors: every task retries these (and the broker's connection
# errors) with backoff; everything else fails at once.
TRANSIENT: tuple[type[ProfilegraphError], ...] = (
    ServiceUnavailable,
    TransientGraphError,
    AuthenticationRateLimited,
)
