"""Kombu's Redis transport, except that one malformed message cannot stop a worker.

Kombu decodes each message it pops from a queue's Redis list inside the worker's event loop;
text that is not a JSON message envelope (a forged or corrupted push) raised there and ended
the worker ("Unrecoverable error"), leaving every queued task to wait for a manual restart.
Here such a message is logged, kept in the dead-letter list :data:`DEAD_MESSAGES` (capped,
newest first) and dropped; the worker goes on with the next message. The app selects this
transport with the ``profilegraph-redis://`` broker URL (see ``workers.app``).
"""

from __future__ import annotations

import logging
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


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _dead_letter(self, error: BaseException, queue: str | None) -> None:
        raw = _raw(error)
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
