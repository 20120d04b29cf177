"""The one base class every profilegraph error derives from.

The CLI catches :class:`ProfilegraphError` once and prints ``Name: message``; workers retry only
the subclasses marked transient. Each package adds its own leaves (``graph.errors`` for Neo4j)::

    ProfilegraphError
    ├── ConfigError               settings missing or inconsistent
    ├── ServiceError              a local service could not be installed, started or reached
    │   ├── ServiceStartError     the process did not come up (log tail in the message)
    │   ├── ServiceUnavailable    nothing answers at the address (transient)
    │   └── AuthenticationFailed  something answers, but the password is wrong
    └── (graph.errors.*)          query and data errors from Neo4j
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
