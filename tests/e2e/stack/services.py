"""The production topology's services: a fresh PostgreSQL database and an empty Redis index per run."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from tests.e2e.stack.processes import (
    register,
    unregister,
)

#: Where the machines and CI run the services of the distributed topology (trust authentication).
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"


@dataclass(frozen=True)
class CeleryTopology:
    """The production topology's services and sizes (see :class:`DistributedServices`)."""

    #: SQLAlchemy URL of the metadata database (PostgreSQL, psycopg2).
    database_url: str
    broker_url: str
    #: Celery result backend (``db+postgresql://...``): task states survive a broker flush.
    result_backend: str
    #: Celery queue of this run only: workers of another run on the same broker never take its tasks.
    queue: str
    workers: int = 2
    worker_concurrency: int = 2
    triggerers: int = 2


def services_unreachable(postgres_url: str = POSTGRES_URL, redis_url: str = REDIS_URL) -> list[str]:
    """Why the distributed topology cannot run here: one sentence per service that does not answer."""
    reasons = []
    try:
        import psycopg2

        psycopg2.connect(postgres_url, connect_timeout=3).close()
    except Exception as exc:
        reasons.append(f"PostgreSQL at {postgres_url} does not answer ({type(exc).__name__}: {exc})".strip())
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        reasons.append(f"Redis at {redis_url} does not answer ({type(exc).__name__}: {exc})")
    return [" ".join(r.split()) for r in reasons]


class DistributedServices:
    """A fresh PostgreSQL database and an empty Redis database index, for one run; removed on ``stop()``.

    The PostgreSQL database is created from ``postgres_url`` (a database the user may connect to) and
    dropped ``WITH (FORCE)`` (a killed component may still hold a connection). The Redis index is the
    first of 1..15 that is empty and that this run claims with ``SET NX`` of a key: another run on the
    same server never shares it. ``stop()`` flushes it (only if the claim is still this run's).
    """

    CLAIM_KEY = "kling-e2e:claimed-by"

    def __init__(self, postgres_url: str = POSTGRES_URL, redis_url: str = REDIS_URL) -> None:
        self.postgres_url = postgres_url
        self.redis_url = redis_url.rstrip("/")
        self.token = secrets.token_hex(4)
        self.database = f"kling_e2e_{self.token}"
        self.redis_db: int | None = None
        self._created = False

    def __enter__(self) -> DistributedServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admin(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.postgres_url, connect_timeout=5)
        conn.autocommit = True
        return conn

    def _redis(self, db: int) -> Any:
        import redis

        return redis.Redis.from_url(f"{self.redis_url}/{db}", socket_timeout=5)

    def start(self) -> DistributedServices:
        register(self)
        try:
            with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.database}"')
            self._created = True
            for db in range(1, 16):
                client = self._redis(db)
                try:
                    if client.set(self.CLAIM_KEY, self.token, nx=True, ex=6 * 3600):
                        if client.dbsize() == 1:
                            self.redis_db = db
                            break
                        client.delete(self.CLAIM_KEY)  # someone else's keys: not ours to use
                finally:
                    client.close()
            if self.redis_db is None:
                raise RuntimeError(f"no empty Redis database index at {self.redis_url} (1..15 all in use)")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def host_url(self) -> str:
        """``user@host:port`` of the PostgreSQL server (from ``postgres_url``)."""
        return self.postgres_url.split("://", 1)[1].rsplit("/", 1)[0]

    def topology(self, **sizes: int) -> CeleryTopology:
        assert self.redis_db is not None, "start() first"
        return CeleryTopology(
            database_url=f"postgresql+psycopg2://{self.host_url}/{self.database}",
            broker_url=f"{self.redis_url}/{self.redis_db}",
            result_backend=f"db+postgresql+psycopg2://{self.host_url}/{self.database}",
            queue=f"kling-e2e-{self.token}",
            **sizes,
        )

    def stop(self) -> None:
        if self.redis_db is not None:
            client = self._redis(self.redis_db)
            try:
                if client.get(self.CLAIM_KEY) == self.token.encode():
                    client.flushdb()
            finally:
                client.close()
            self.redis_db = None
        if self._created:
            with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created = False
        unregister(self)
