"""Where the Redis backend connects: URLs, django-redis ``CACHES`` aliases, clients.

Accepted URL forms (symphra-scheduler's, plus TLS and several sentinels)::

    redis://host:6379/0                       one server
    redis://:password@host:6379/0             requirepass
    redis://user:password@host:6379/0         ACL user
    rediss://user:password@host:6380/0        TLS (?ssl_cert_reqs=none, ?ssl_ca_certs=PATH)
    unix:///run/redis.sock?db=0               a local socket
    redis+sentinel://[user:pw@]h1:26379[,h2:26380]/mymaster/0
    redis://[user:pw@]h:7000,h:7001,h:7002/0  Cluster (db must be 0)

The password never leaves this module unmasked: :attr:`RedisTarget.display`
is what logs and errors show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from symphra_django.exceptions import MissingPackage
from symphra_django.utils.secrets import mask_url

SINGLE, SENTINEL, CLUSTER = "single", "sentinel", "cluster"
_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")
_SSL_QUERY = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def import_redis() -> Any:
    """The ``redis`` package, or MissingPackage naming the extra to install."""
    try:
        import redis
    except ImportError as exc:
        raise MissingPackage("redis", needed_by="The Redis backend", extra="redis") from exc
    return redis


def missing_packages(options: dict[str, Any]) -> list[str]:
    """The packages the Redis backend needs with ``options`` that are not
    installed: ``redis``, and ``django-redis`` when the ``cache`` option names
    a django-redis ``CACHES`` alias."""
    from django.conf import settings

    missing = []
    if find_spec("redis") is None:
        missing.append(str(MissingPackage("redis", needed_by="The Redis backend", extra="redis")))
    cache = options.get("cache")
    config = getattr(settings, "CACHES", {}).get(cache) if isinstance(cache, str) else None
    if isinstance(config, dict) and str(config.get("BACKEND", "")).startswith("django_redis.") \
            and find_spec("django_redis") is None:
        missing.append(str(MissingPackage(
            "django-redis", needed_by=f"The Redis backend's cache {cache!r} (a django-redis cache)", extra="redis",
        )))
    return missing


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis location (one server, a Sentinel service or a Cluster)."""

    url: str = field(repr=False)
    kind: str
    hosts: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    ssl_options: tuple[tuple[str, str], ...] = ()
    #: The Sentinel master's name (parse_url requires one); empty for other kinds.
    service_name: str = ""

    @property
    def display(self) -> str:
        """The URL with its password masked, for logs and errors."""
        return mask_url(self.url)


def parse_url(url: object) -> RedisTarget:
    """Parse one of the accepted URL forms; ImproperlyConfigured if malformed."""
    if not isinstance(url, str) or "://" not in url:
        raise ImproperlyConfigured(
            f"Redis url {mask_url(url)!r} is not a URL; expected e.g. "
            "redis://host:6379/0, rediss://..., redis+sentinel://host:26379/mymaster/0 "
            "or redis://h:7000,h:7001,h:7002/0"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise ImproperlyConfigured(
            f"Redis url {mask_url(url)!r} has scheme {scheme!r}; valid schemes are "
            f"{', '.join(_SCHEMES)}"
        )
    if scheme == "unix":
        return RedisTarget(url=url, kind=SINGLE, hosts=())
    # urlsplit refuses "h:7000,h:7001" as a port, so the authority is split by hand.
    rest = url.split("://", 1)[1]
    authority, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    userinfo, _, hostlist = authority.rpartition("@")
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if not colon:
            # "redis://secret@host": redis-py reads a lone user slot as a password.
            username, password = None, unquote(user)
    hosts = tuple(_host_port(part, url, 26379 if "sentinel" in scheme else 6379)
                  for part in hostlist.split(","))
    ssl = scheme.startswith("rediss")
    params = parse_qs(query)
    ssl_options = tuple((k, params[k][-1]) for k in _SSL_QUERY if k in params)
    segments = [s for s in path.split("/") if s]
    if "sentinel" in scheme:
        if not segments:
            raise ImproperlyConfigured(
                f"Sentinel url {mask_url(url)!r} names no master; expected "
                "redis+sentinel://host:26379/mymaster/0"
            )
        service, db = segments[0], _db(segments[1:], url)
        return RedisTarget(url, SENTINEL, hosts, db, username, password, ssl, ssl_options, service)
    db = _db(segments, url, params.get("db"))
    if len(hosts) > 1:
        if db != 0:
            raise ImproperlyConfigured(
                f"Cluster url {mask_url(url)!r} selects db {db}; Redis Cluster has only db 0"
            )
        return RedisTarget(url, CLUSTER, hosts, 0, username, password, ssl, ssl_options)
    return RedisTarget(url, SINGLE, hosts, db, username, password, ssl, ssl_options)


def _host_port(part: str, url: str, default_port: int) -> tuple[str, int]:
    probe = urlsplit(f"//{part}")
    try:
        port = probe.port or default_port
    except ValueError:
        port = -1
    if not probe.hostname or port <= 0:
        raise ImproperlyConfigured(f"Redis url {mask_url(url)!r} has a bad host {part!r}")
    return probe.hostname, port


def _db(segments: list[str], url: str, query_db: list[str] | None = None) -> int:
    raw = segments[0] if segments else (query_db[-1] if query_db else "0")
    if len(segments) > 1 or not raw.isdigit():
        raise ImproperlyConfigured(f"Redis url {mask_url(url)!r} has a bad database number {raw!r}")
    return int(raw)


def url_from_cache(alias: object) -> tuple[str, dict[str, Any]]:
    """The URL and connection options of a django-redis (or Django) ``CACHES`` alias.

    Returns ``(url, options)`` where options may hold ``password``,
    ``socket_timeout`` and ``max_connections`` taken from the cache's
    ``OPTIONS`` (django-redis spellings).
    """
    from django.conf import settings

    caches = getattr(settings, "CACHES", {})
    if not isinstance(alias, str) or alias not in caches:
        raise ImproperlyConfigured(
            f"Redis backend option 'cache' is {alias!r}, which is not an alias of "
            f"settings.CACHES (aliases: {', '.join(map(repr, caches)) or 'none'})"
        )
    config = caches[alias]
    backend = str(config.get("BACKEND", ""))
    if "redis" not in backend.lower():
        raise ImproperlyConfigured(
            f"settings.CACHES[{alias!r}] uses {backend!r}, not a Redis cache "
            "(django_redis.cache.RedisCache or django.core.cache.backends.redis.RedisCache)"
        )
    location = config.get("LOCATION")
    if isinstance(location, (list, tuple)):
        # django-redis: the first location is the primary (writes go there).
        location = location[0] if location else None
    if isinstance(location, str) and "," in location and "://" in location.split(",", 1)[1]:
        # Django's RedisCache: "url1,url2" (the first is the primary); a
        # cluster URL "redis://h:7000,h:7001" has no second scheme and stays.
        location = location.split(",", 1)[0]
    cache_options = config.get("OPTIONS") or {}
    options: dict[str, Any] = {}
    if cache_options.get("PASSWORD"):
        options["password"] = cache_options["PASSWORD"]
    if cache_options.get("SOCKET_TIMEOUT") is not None:
        options["socket_timeout"] = cache_options["SOCKET_TIMEOUT"]
    pool_kwargs = cache_options.get("CONNECTION_POOL_KWARGS") or {}
    if pool_kwargs.get("max_connections") is not None:
        options["max_connections"] = pool_kwargs["max_connections"]
    sentinels = cache_options.get("SENTINELS")
    if sentinels and isinstance(location, str):
        # django-redis SentinelClient: LOCATION "redis://mymaster/0" + SENTINELS [(h, p)].
        split = urlsplit(location)
        hosts = ",".join(f"{h}:{p}" for h, p in sentinels)
        auth = location.split("://", 1)[1].rpartition("@")[0]
        location = (
            f"redis+sentinel://{auth + '@' if auth else ''}{hosts}/{split.hostname}"
            f"{split.path or '/0'}"
        )
    if not isinstance(location, str):
        raise ImproperlyConfigured(
            f"settings.CACHES[{alias!r}]['LOCATION'] is {location!r}; expected a redis:// URL"
        )
    return location, options


def build_client(
    target: RedisTarget,
    *,
    password: str | None = None,
    max_connections: int | None = None,
    socket_timeout: float | None = None,
    retries: int = 1,
) -> Any:
    """A redis-py client (Redis or RedisCluster) for ``target``.

    redis-py retries ``retries`` times at once on a broken connection (a
    stale pooled socket after a server restart); longer outages are the
    backend's reconnect loop's job, so that it can log them once.
    """
    redis = import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 30,
    }
    secret = password if password is not None else target.password
    # Typed Any per value: redis-py's annotations check every ``**`` dict against
    # each keyword of the client, and these hold several kinds of value.
    auth: dict[str, Any] = {"username": target.username, "password": secret}
    ssl_kwargs: dict[str, Any] = {"ssl": True, **dict(target.ssl_options)} if target.ssl else {}
    if target.kind == CLUSTER:
        from redis.cluster import ClusterNode, RedisCluster

        limits: dict[str, Any] = {"max_connections": max_connections} if max_connections else {}
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in target.hosts],
            **limits,
            **auth, **ssl_kwargs, **common,
        )
    if target.kind == SENTINEL:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(
            list(target.hosts),
            # Sentinels have their own (usually no) password, not the master's.
            sentinel_kwargs={"socket_timeout": socket_timeout or 1.0, **ssl_kwargs},
            **ssl_kwargs,
        )
        return sentinel.master_for(
            target.service_name, db=target.db, max_connections=max_connections, **auth, **common,
        )
    pool_kwargs = {"max_connections": max_connections, **common}
    if password is not None:
        pool_kwargs["password"] = password
    return redis.Redis.from_url(target.url, **pool_kwargs)
