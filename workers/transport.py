"""Kombu's Redis transport, except that one malformed message cannot stop a worker.

Kombu decodes each message it pops from a queue's Redis list inside the worker's event loop;
text that is not a JSON message envelope (a forged or corrupted push) raised there and ended
the worker ("Unrecoverable error"), leaving every queued task to wait for a manual restart.
Here such a message is logged, kept in the dead-letter list :data:`DEAD_MESSAGES` (capped,
newest first) and dropped; the worker goes on with the next message. The app selects this
transport with the ``profilegraph-redis://`` broker URL (see ``workers.app``).

A message can also be a well-formed envelope that names a real task but carries a body Celery
cannot unpack (a JSON string, number, object or null instead of ``[args, kwargs, embed]``).
That fails later, in the consumer, after the message was taken into the unacknowledged set:
left there, it held the worker's one prefetch slot for good (and came back on a restart). Such
a message is acknowledged, so it never comes back, and dead-lettered whole (headers and body).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from kombu.utils.json import loads

from core.redis_keys import DEAD_MESSAGES

log = logging.getLogger("profilegraph.workers")

SCHEME = "profilegraph-redis"
KEEP_DEAD = 1_000  # newest dead messages kept
KEEP_BYTES = 64 * 1024  # of each

TRANSPORT_ALIASES.setdefault(SCHEME, "workers.transport:Transport")
# What decoding and unpacking a message that is not a kombu envelope raises: not JSON or not
# UTF-8 (ValueError), JSON of another shape (TypeError, KeyError, AttributeError).
MALFORMED = (ValueError, TypeError, KeyError, AttributeError)


def _raw(error: BaseException) -> bytes:
    """The undecodable message, from the decoding error (JSON's ``doc``, UTF-8's ``object``);
    for a message that decoded but is no envelope, the error's text."""
    raw = getattr(error, "doc", None) or getattr(error, "object", None) or repr(error)
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)


def _whole(message: Any) -> bytes:
    """A delivered message as it came: its headers and its body, as JSON."""
    body = message.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return json.dumps(
        {"headers": message.headers, "body": body}, default=repr, ensure_ascii=False
    ).encode("utf-8")


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def basic_consume(
        self, queue: str, no_ack: bool, callback: Callable[[Any], Any], consumer_tag: str, **kw: Any
    ) -> Any:
        """As kombu's, except that a message the consumer cannot take (a body that is not a
        task's) is acknowledged and dead-lettered instead of staying unacknowledged."""

        def guarded(message: Any) -> Any:
            try:
                return callback(message)
            except MALFORMED as error:
                self._dead_letter(error, queue, raw=_whole(message))
                if not no_ack:
                    message.ack()  # out of the unacknowledged set: the slot is free again
                return None

        tag = super().basic_consume(queue, no_ack, guarded, consumer_tag, **kw)
        take = self.connection._callbacks[queue]

        def taking(raw_message: Any) -> Any:
            try:
                return take(raw_message)
            except MALFORMED as error:  # JSON, but no envelope (a list, a number): kept whole
                self._dead_letter(error, queue, raw=json.dumps(raw_message).encode("utf-8"))
                return None

        self.connection._callbacks[queue] = taking
        return tag

    def _dead_letter(
        self, error: BaseException, queue: str | None, *, raw: bytes | None = None
    ) -> None:
        raw = raw if raw is not None else _raw(error)
        log.error(
            "malformed message on queue %s dropped into %s (%s: %s; %d bytes)",
            queue,
            DEAD_MESSAGES,
            type(error).__name__,
            error,
            len(raw),
        )
        with self.conn_or_acquire() as client:
            client.lpush(DEAD_MESSAGES, raw[:KEEP_BYTES])
            client.ltrim(DEAD_MESSAGES, 0, KEEP_DEAD - 1)

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except MALFORMED as error:
            self._dead_letter(error, None)
            return True  # a message was consumed; poll again

    def _get(self, queue: str) -> Any:
        with self.conn_or_acquire() as client:
            for priority in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, priority))
                if item:
                    try:
                        message = loads(item.decode("utf-8"))
                    except ValueError as error:
                        self._dead_letter(error, queue)
                        continue
                    if isinstance(message, dict):
                        return message
                    self._dead_letter(TypeError(item), queue)
        raise kombu_redis.Empty()


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
