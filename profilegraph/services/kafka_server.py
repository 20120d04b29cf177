"""Run a local Apache Kafka broker (KRaft mode, one node) from Maven Central, on loopback.

Optional: ``profilegraph services up --with kafka`` starts it, and everything else works
without it. The broker and its controller listen on ``kafka.port`` and ``kafka.port + 1``,
both SASL/PLAIN with the generated password (no listener accepts a client without it; the
controller speaks the admin protocol too). The password lives in the instance's
``server.properties`` (0600, in a 0700 folder), never on a command line. The assembled jars are
shared under ``$PROFILEGRAPH_HOME/kafka-<version>/``; an instance keeps its log directory, a
formatted KRaft store, under ``$PROFILEGRAPH_STATE/kafka/``.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from core.errors import ServiceStartError, ServiceUnavailable
from core.settings import KafkaSettings, Settings
from profilegraph.services.maven import copy_dependencies, require_maven, write_pom
from profilegraph.services.process import (
    Instance,
    make_private,
    port_open,
)
from profilegraph.services.status import ServiceStatus, process_status

POM_NAME = "kafka-assembly.pom.xml"
MARKER = ".complete"
MAIN = "kafka.Kafka"


def distribution_dir(settings: Settings) -> Path:
    return settings.home / f"kafka-{settings.kafka.version}"


INSTANCE = Instance("kafka", "kafka.pid", "kafka.log")
instance_dir, log_path, running_pid = INSTANCE.folder, INSTANCE.log_path, INSTANCE.running_pid
_pid_file = INSTANCE.pid_path


def ensure_distribution(settings: Settings) -> Path:
    """The broker's jars, resolved by Maven on first use (a marker makes a half-finished
    assembly count as absent)."""
    target = distribution_dir(settings)
    if (target / MARKER).exists():
        return target
    require_maven("Kafka")
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    work.mkdir(parents=True)
    pom = write_pom(POM_NAME, work)
    what = f"Kafka {settings.kafka.version}"
    lib = work / "lib"
    copy_dependencies(settings, pom, lib, {"kafka.version": settings.kafka.version}, what=what)
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise ServiceStartError(f"the {what} assembly in {lib} lacks kafka_2.13")
    (work / MARKER).write_text(f"kafka {settings.kafka.version}\n")
    work.rename(target)
    return target


def _password(k: KafkaSettings) -> str:
    if k.password is None:
        raise ServiceStartError("no Kafka password: set PROFILEGRAPH_KAFKA__PASSWORD")
    return k.password.get_secret_value()


def render_config(settings: Settings) -> str:
    k, inst = settings.kafka, instance_dir(settings)
    secret = _password(k).replace("\\", "\\\\").replace('"', '\\"')
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{k.user}" password="{secret}" user_{k.user}="{secret}";'
    )
    return (
        "\n".join(
            [
                "# Written by profilegraph at every start; holds a secret, mode 0600.",
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{k.host}:{k.port + 1}",
                f"listeners=CLIENTS://{k.host}:{k.port},CONTROLLER://{k.host}:{k.port + 1}",
                f"advertised.listeners=CLIENTS://{k.host}:{k.port}",
                "inter.broker.listener.name=CLIENTS",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CLIENTS:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                "sasl.mechanism.inter.broker.protocol=PLAIN",
                "sasl.mechanism.controller.protocol=PLAIN",
                f"listener.name.clients.plain.sasl.jaas.config={jaas}",
                f"listener.name.controller.plain.sasl.jaas.config={jaas}",
                f"log.dirs={inst / 'data'}",
                f"num.partitions={k.partitions}",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.retention.hours=168",
            ]
        )
        + "\n"
    )


LOG4J = """\
# Written by profilegraph: warnings and errors to kafka.log in the instance folder.
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
"""


def _java(settings: Settings, distribution: Path, *args: str) -> list[str]:
    inst = instance_dir(settings)
    return [
        "java",
        f"-Xmx{settings.kafka.heap_mb}m",
        "-Xms128m",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={inst / 'log4j2.properties'}",
        "-cp",
        str(distribution / "lib" / "*"),
        *args,
    ]


def start(settings: Settings) -> ServiceStatus:
    """Start the broker if it is not running (formatting its store the first time)."""
    k = settings.kafka
    if running_pid(settings) is None:
        if port_open(k.host, k.port) or port_open(k.host, k.port + 1):
            raise ServiceStartError(
                f"port {k.host}:{k.port} or {k.port + 1} is taken by a process that is not this "
                "instance; stop it or set PROFILEGRAPH_KAFKA__PORT"
            )
        distribution = ensure_distribution(settings)
        inst = instance_dir(settings)
        (inst / "data").mkdir(parents=True, exist_ok=True)
        conf = inst / "server.properties"
        conf.touch(mode=0o600)
        conf.write_text(render_config(settings))
        (inst / "log4j2.properties").write_text(LOG4J.format(log=log_path(settings)))
        make_private(inst)
        if not (inst / "data" / "meta.properties").exists():
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            done = subprocess.run(
                _java(
                    settings,
                    distribution,
                    "kafka.tools.StorageTool",
                    "format",
                    # one argument: an id may start with "-" (base64url), which argparse
                    # would take for an option in "-t ID" (a 1-in-64 failure to format)
                    f"--cluster-id={cluster}",
                    "-c",
                    str(conf),
                ),
                capture_output=True,
                text=True,
                check=False,
                umask=0o077,
                timeout=120,
            )
            if done.returncode != 0:
                raise ServiceStartError(f"Kafka storage format failed:\n{done.stdout}{done.stderr}")
        # detached (its own session, reparented when the shell exits), output to kafka.out
        out = inst / "kafka.out"
        detach = 'setsid "$@" >>"$OUT" 2>&1 </dev/null & echo $!'
        launched = subprocess.run(
            ["/bin/sh", "-c", detach, "sh", *_java(settings, distribution, MAIN, str(conf))],
            env={**os.environ, "OUT": str(out)},
            capture_output=True,
            text=True,
            check=True,
            umask=0o077,
        )
        pid_file = _pid_file(settings)
        pid_file.touch(mode=0o600)
        pid_file.write_text(launched.stdout.strip() + "\n")
    INSTANCE.wait_started(
        settings,
        lambda: _answers(k),
        what=f"Kafka at {k.bootstrap}",
        timeout_s=90,
        log=instance_dir(settings) / "kafka.out",
    )
    return status(settings)


def _answers(k: KafkaSettings) -> bool:
    try:
        broker_version(k)
        return True
    except ServiceUnavailable:
        return False


def broker_version(k: KafkaSettings, timeout_s: float = 3.0) -> str:
    """The broker's id and listener, or ServiceUnavailable (wrong password included)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**k.client_config(), "log_level": 0})
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise ServiceUnavailable(f"Kafka at {k.bootstrap} does not answer: {error}") from error
    return f"{len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"


def stop(settings: Settings) -> None:
    # a controlled shutdown: the broker flushes its logs
    INSTANCE.terminate(settings, what="Kafka shutdown", timeout_s=60)
    _pid_file(settings).unlink(missing_ok=True)


def status(settings: Settings) -> ServiceStatus:
    k = settings.kafka
    pid = running_pid(settings)
    result = process_status(
        "kafka", "Kafka", k.bootstrap, pid=pid, stale=INSTANCE.stale_pid(settings)
    )
    if pid is not None:
        try:
            result.version = f"{k.version} ({broker_version(k)})"
        except ServiceUnavailable as error:
            result.detail = str(error)
    return result


def ensure_topic(k: KafkaSettings, topic: str, partitions: int | None = None) -> int:
    """Create ``topic`` if it is missing; returns its partition count."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({**k.client_config(), "log_level": 0})
    meta = admin.list_topics(timeout=10)
    if topic in meta.topics:
        return len(meta.topics[topic].partitions)
    wanted = partitions or k.partitions
    try:
        admin.create_topics([NewTopic(topic, wanted, 1)])[topic].result(timeout=30)
    except KafkaException as error:
        if "TOPIC_ALREADY_EXISTS" not in str(error):
            raise
    return wanted
