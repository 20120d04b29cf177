"""All configuration in one pydantic-settings object, read from the environment.

Precedence: environment variables (``PROFILEGRAPH_*``, nested with ``__``, e.g.
``PROFILEGRAPH_NEO4J__PASSWORD``) over the local env file ``$PROFILEGRAPH_STATE/profilegraph.env``
over the defaults below. The env file lives outside the clone; ``profilegraph services up``
writes generated passwords into it, so no password is ever stored in the repository.

Build the object once per entry point (CLI, worker) with :func:`load_settings` and pass it down;
``engine`` never reads settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PROFILEGRAPH_"
ENV_FILE_NAME = "profilegraph.env"


def default_cache_dir() -> Path:
    """Downloads and built artefacts (Neo4j distribution, Maven repo, virtualenvs)."""
    return Path(os.environ.get("PROFILEGRAPH_HOME", Path.home() / ".cache" / "profilegraph"))


def default_state_dir() -> Path:
    """Instance state (databases, logs, generated secrets); separate per test session."""
    return Path(
        os.environ.get("PROFILEGRAPH_STATE", Path.home() / ".local" / "state" / "profilegraph")
    )


def default_datasets_dir() -> Path:
    """``shared/datasets`` beside the checkout this package runs from (the layout of every
    clone here), else ``../shared/datasets`` from the current directory."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return beside if beside.exists() else Path("../shared/datasets").absolute()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Neo4jSettings(_Section):
    """Where Neo4j listens and how the local server is sized (2 cores / 24 GiB by default)."""

    # bolt: one server, every query to it. neo4j: routed (a cluster or Aura; the local server
    # answers routing too): reads go to secondaries/followers, writes to the leader, and the
    # client's bookmarks make every read see the client's earlier writes. "+s": TLS.
    scheme: Literal["bolt", "bolt+s", "neo4j", "neo4j+s"] = "bolt"
    host: str = "127.0.0.1"
    bolt_port: int = Field(7687, ge=1, le=65535)
    http_port: int = Field(7474, ge=1, le=65535)
    # The application logs in as its own user, so failed logins to the admin account (an
    # analyst mistyping in the Browser, say) never lock the application out. The admin user
    # (neo4j) only creates it, on the local server; a server managed elsewhere may give
    # PROFILEGRAPH_NEO4J__USER=neo4j.
    user: str = "profilegraph"
    password: SecretStr | None = None
    admin_password: SecretStr | None = None  # the neo4j user's, for the local server
    database: str = "neo4j"
    version: str = "5.26.30"
    gds_version: str = "2.13.9"
    # Neo4j Browser, served at /browser/ (the newest on Maven Central: 5.24.0, which speaks to
    # 5.26 servers; later Browsers ship only inside Neo4j's own tarball)
    browser_version: str = "5.24.0"
    heap: str = "4g"
    pagecache: str = "4g"
    connect_timeout_s: float = Field(5.0, gt=0)
    start_timeout_s: float = Field(180.0, gt=0)
    batch_size: int = Field(10_000, ge=1, le=1_000_000)  # events per ingest transaction
    export_chunk_size: int = Field(20_000, ge=1, le=1_000_000)  # users per export query
    export_workers: int = Field(2, ge=1, le=64)  # parallel export sessions
    write_workers: int = Field(2, ge=1, le=64)  # parallel write-back sessions
    analyst_timeout_s: float = Field(60.0, gt=0, le=3600)  # an analyst query's transaction
    auth_retry_s: float = Field(30.0, ge=0, le=600)  # waiting out a login lock (rate limit)
    # how long a write transaction is retried through transient errors and an unreachable
    # server: longer than a restart of a loaded server here (measured by
    # tests/profilegraph/test_services_lifecycle.py), so a restart mid-ingest costs a pause
    retry_s: float = Field(120.0, gt=0, le=3600)

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.host}:{self.bolt_port}"


class RedisSettings(_Section):
    """Broker, result backend and event stream all use this one Redis."""

    host: str = "127.0.0.1"
    port: int = Field(6379, ge=1, le=65535)
    password: SecretStr | None = None
    db: int = Field(0, ge=0, le=15)
    connect_timeout_s: float = Field(5.0, gt=0)

    def url(self, *, masked: bool = False) -> str:
        secret = "***" if masked else (self.password.get_secret_value() if self.password else "")
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"


class FlowerSettings(_Section):
    """Celery's monitor (``profilegraph flower``): loopback only, basic auth."""

    host: str = "127.0.0.1"
    port: int = Field(5555, ge=1, le=65535)
    user: str = "profilegraph"
    password: SecretStr | None = None  # generated into the local env file

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


class KafkaSettings(_Section):
    """The optional Kafka source (``services up --with kafka``; ``consume --source kafka``):
    one KRaft broker on loopback, SASL/PLAIN with a generated password."""

    version: str = "4.1.1"  # org.apache.kafka:kafka_2.13 on Maven Central
    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)  # clients; the controller listens on port + 1
    user: str = "profilegraph"
    password: SecretStr | None = None  # generated into the local env file
    topic: str = Field("profilegraph-events", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    partitions: int = Field(4, ge=1, le=1_000)  # for topics `profilegraph kafka create` makes
    group: str = Field("profilegraph-ingest", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    heap_mb: int = Field(512, ge=128, le=65_536)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def client_config(self) -> dict[str, str]:
        """librdkafka settings that reach this broker (confluent-kafka clients)."""
        secret = self.password.get_secret_value() if self.password else ""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": self.user,
            "sasl.password": secret,
        }


class IngestSettings(_Section):
    """The online ingest path (``graph.ingest``, ``graph.stream``, ``graph.kafka_source``)."""

    # How long the event ledger (task and data-set submissions) and the delivered-batch records
    # (Redis streams) remember what they applied: a replay older than this is applied again.
    dedup_window_days: float = Field(30.0, gt=0, le=3650)
    # At most this many events read ahead of Neo4j per consumer (backpressure: a slow graph
    # slows the consumer instead of filling its memory).
    max_buffered_events: int = Field(50_000, ge=1, le=10_000_000)
    # The online profile path (graph.online): an order moves the customer's value fields in the
    # ingest's own transaction, with the last full run's models. false: only refreshes do.
    online_profiles: bool = True
    # Every action (a view too) moves the profile online: value (the action moves the
    # customer's "now"), churn and next behaviour (the run's sequence model over the customer's and
    # their followees' latest actions). Off by default: reading every actor's and followee's
    # actions in the ingest transaction costs most of the ingest's rate on a small machine
    # (python -m bench.online --every-action; docs/workers.md).
    online_every_action: bool = False


class TrainingSettings(_Section):
    """The training recipe of every refresh and evaluation (``jobs.recipe`` turns it into the
    engine's config; nothing else restates it). A refresh request may lower ``max_epochs``."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    # processes that train one model together (engine.models.distributed, torch.distributed): one
    # GPU each (NCCL), or CPU processes (gloo). 1: one process, no collectives.
    ranks: int = Field(1, ge=1, le=64)
    seed: int = 0
    lr: float = Field(5e-3, gt=0, le=1.0)
    patience: int = Field(20, ge=1)  # epochs without a better validation score before stopping
    # the same for a warm-started run (refresh.warm_start), which begins near its optimum
    warm_patience: int = Field(5, ge=1)
    eval_every: int = Field(5, ge=1)  # epochs between validation scores
    influence_window_days: float = Field(30.0, gt=0)  # a follower adoption counts this long
    # No training epoch starts after this many seconds (the best state so far is kept): a big
    # catalogue on a CPU ends in bounded time. 0: no budget.
    time_budget_s: float = Field(1800.0, ge=0)
    # a rating below this is no interest, on the data's own scale; unset: the middle of the
    # ratings the data holds (1-5: 3, 1-10: 5.5, 0-1: 0.5), never a fixed 3 on any scale
    min_rating: float | None = Field(None, ge=0)


class RefreshSettings(_Section):
    """The beat schedule and what a refresh does."""

    incremental_every_min: float = Field(15.0, gt=0)
    full_at_hour: int = Field(3, ge=0, le=23)  # nightly full retrain, server-local time
    # the neighbourhood exported around changed users: two hops at least, since the churn
    # features read the followees' followees (one hop gave other figures than a full run)
    hops: int = Field(2, ge=2, le=4)
    max_epochs: int = Field(60, ge=1)
    # a full run starts from the previous full run's embeddings (False: every run cold)
    warm_start: bool = True
    finetune_epochs: int = Field(5, ge=0)
    lock_ttl_s: int = Field(3600, ge=10)  # a refresh's lock outlives no crashed holder longer
    write_batch_size: int = Field(2_000, ge=1, le=100_000)  # profiles per write transaction


class ValueSettings(_Section):
    """Money and time for the value, lifecycle and churn dimensions."""

    # The one reporting currency (ISO 4217): a purchase in another currency is rejected.
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    horizon_weeks: float = Field(13.0, gt=0, le=520)  # expected purchases and churn, ahead
    clv_weeks: float = Field(52.0, gt=0, le=520)  # CLV horizon
    annual_discount: float = Field(0.10, ge=0, le=1)


class NextSettings(_Section):
    """Next behaviour (the sequence model) and the recommendation lists."""

    recommendations: int = Field(10, ge=1, le=100)  # N, the list length
    explore_share: float = Field(0.2, ge=0, le=1)  # of the list, by Thompson sampling
    sequence_length: int = Field(50, ge=2, le=1000)  # the latest actions the model reads
    sequence_epochs: int = Field(20, ge=1, le=1000)
    sequence_time_budget_s: float = Field(90.0, ge=0)  # 0: none


SENSITIVE = ("age_band", "gender")  # user properties that are sensitive, whatever the settings


class PrivacySettings(_Section):
    """Consent, retention, sensitive attributes and differential privacy (docs/privacy.md)."""

    # A user who never answered may be profiled (True: the shop's legitimate interest, as for
    # the public data sets here) or not (False: profiling only on an explicit opt-in).
    consent_default: bool = True
    # Users who may not be profiled are left out of exports (False), or exported as context
    # that informs others' influence and interests but is never profiled (True).
    unconsented_as_context: bool = False
    run_retention_days: float = Field(7.0, gt=0, le=3650)  # run folders (snapshots, results)
    dead_letter_retention_days: float = Field(30.0, gt=0, le=3650)  # rejected input's raw text
    review_text_days: float = Field(365.0, gt=0, le=3650)  # a review's words, from when written
    # a word becomes a profile keyword (and leaves the graph, as a term) once this many users
    # wrote it: what one person typed (a name, an address) never does
    keyword_min_writers: int = Field(5, ge=2, le=1_000_000)
    # Sensitive attributes (SENSITIVE) go into snapshots only for the fairness report; they are
    # never a model input either way.
    sensitive_in_snapshots: bool = False
    dp_total_epsilon: float = Field(10.0, gt=0, le=1000)  # per data set, over all DP queries
    dp_min_group: int = Field(20, ge=1, le=1_000_000)  # smaller (noisy) groups are suppressed


class Settings(BaseSettings):
    """Everything configurable, in one place. Unknown keys are errors, not silently ignored."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    home: Path = Field(default_factory=default_cache_dir)
    state: Path = Field(default_factory=default_state_dir)
    # Where the public data sets lie (read in place): ../shared/datasets beside the checkout,
    # whatever the working directory; a relative path given is taken from the current
    # directory once, when the settings are built.
    datasets_dir: Path = Field(default_factory=lambda: default_datasets_dir())
    neo4j: Neo4jSettings = Neo4jSettings()
    redis: RedisSettings = RedisSettings()
    flower: FlowerSettings = FlowerSettings()
    kafka: KafkaSettings = KafkaSettings()
    ingest: IngestSettings = IngestSettings()
    training: TrainingSettings = TrainingSettings()
    refresh: RefreshSettings = RefreshSettings()
    value: ValueSettings = ValueSettings()
    next: NextSettings = NextSettings()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("datasets_dir", "home", "state")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def env_file(self) -> Path:
        return self.state / ENV_FILE_NAME


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and the local env file of the configured state dir."""
    state = Path(str(overrides.get("state") or default_state_dir()))
    env_file = state / ENV_FILE_NAME
    return Settings(_env_file=env_file if env_file.exists() else None, **overrides)  # type: ignore[call-arg]
