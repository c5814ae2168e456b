"""Where the Redis backend connects: symphra-scheduler's URL forms, CACHES reuse, masking."""

from __future__ import annotations

import builtins

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from symphra_django.backends.redis.backend import RedisBackend
from symphra_django.backends.redis.connection import (
    CLUSTER, SENTINEL, SINGLE, import_redis, parse_url, url_from_cache,
)
from symphra_django.utils.secrets import mask_url


def test_plain_url():
    target = parse_url("redis://cache.example:6380/2")
    assert (target.kind, target.hosts, target.db, target.password) == (
        SINGLE, (("cache.example", 6380),), 2, None,
    )


def test_url_with_requirepass_password():
    target = parse_url("redis://:s3cret@host:6379/0")
    assert (target.username, target.password) == (None, "s3cret")


def test_url_with_acl_user_and_password():
    target = parse_url("redis://worker:p%40ss@host:6379/1")
    assert (target.username, target.password, target.db) == ("worker", "p@ss", 1)


def test_tls_url_with_certificate_options():
    target = parse_url("rediss://u:pw@host:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem")
    assert target.ssl is True
    assert dict(target.ssl_options) == {"ssl_cert_reqs": "none", "ssl_ca_certs": "/ca.pem"}


def test_sentinel_url_names_sentinels_master_and_db():
    target = parse_url("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/3")
    assert target.kind == SENTINEL
    assert target.hosts == (("s1", 26379), ("s2", 26380))
    assert (target.service_name, target.db, target.password) == ("mymaster", 3, "pw")


def test_sentinel_port_defaults_to_26379():
    assert parse_url("redis+sentinel://s1/mymaster").hosts == (("s1", 26379),)


def test_cluster_url_lists_startup_nodes():
    target = parse_url("redis://h:7000,h:7001,h:7002/0")
    assert target.kind == CLUSTER
    assert target.hosts == (("h", 7000), ("h", 7001), ("h", 7002))


def test_cluster_url_refuses_a_database_other_than_0():
    with pytest.raises(ImproperlyConfigured, match="only db 0"):
        parse_url("redis://h:7000,h:7001/1")


@pytest.mark.parametrize(
    "url", ["localhost:6379", "http://host/0", "redis://host:port/0", "redis://host/x", "redis+sentinel://h"],
)
def test_malformed_urls_are_refused_with_the_url_masked(url):
    with pytest.raises(ImproperlyConfigured):
        parse_url(url)


def test_errors_about_a_url_never_show_its_password():
    with pytest.raises(ImproperlyConfigured) as info:
        parse_url("redis://user:topsecret@host:port/0")
    assert "topsecret" not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:p@ss:w@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://pw@h/0", "redis://***@h/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis+sentinel://:pw@a:1,b:2/m/0", "redis+sentinel://:***@a:1,b:2/m/0"),
        ("redis://h/0?password=pw", "redis://h/0?password=***"),
    ],
)
def test_mask_url_hides_passwords(url, masked):
    assert mask_url(url) == masked


def test_backend_description_masks_the_password():
    backend = RedisBackend(url="redis://user:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in backend.describe()
    assert "user:***@" in backend.describe()


CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
        "OPTIONS": {
            "PASSWORD": "frompassword",
            "SOCKET_TIMEOUT": 2,
            "CONNECTION_POOL_KWARGS": {"max_connections": 7},
        },
    },
    "replicated": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": ["redis://primary:6379/1", "redis://replica:6379/1"],
    },
    "sentinel": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://mymaster/2",
        "OPTIONS": {"SENTINELS": [("s1", 26379), ("s2", 26380)]},
    },
}


@override_settings(CACHES=CACHES)
def test_cache_alias_gives_its_location_and_options():
    url, options = url_from_cache("shared")
    assert url == "redis://127.0.0.1:6379/3"
    assert options == {"password": "frompassword", "socket_timeout": 2, "max_connections": 7}


@override_settings(CACHES=CACHES)
def test_cache_alias_with_several_locations_uses_the_primary():
    assert url_from_cache("replicated")[0] == "redis://primary:6379/1"


@override_settings(CACHES=CACHES)
def test_django_redis_sentinel_alias_becomes_a_sentinel_url():
    target = parse_url(url_from_cache("sentinel")[0])
    assert (target.kind, target.service_name, target.db) == (SENTINEL, "mymaster", 2)
    assert target.hosts == (("s1", 26379), ("s2", 26380))


@override_settings(CACHES=CACHES)
def test_unknown_or_non_redis_cache_alias_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not an alias"):
        url_from_cache("nope")
    with pytest.raises(ImproperlyConfigured, match="not a Redis cache"):
        url_from_cache("default")


@override_settings(CACHES={"default": {
    "BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0",
}})
def test_backend_reuses_a_cache_alias_and_works():
    from tests.support.services import require

    require("redis")
    backend = RedisBackend(cache="default", key_prefix="cachereuse")
    backend.connect_sync()
    try:
        assert backend.target.url == "redis://127.0.0.1:6379/0"
        assert backend.health_check_sync() is True
    finally:
        backend.disconnect_sync()


def test_url_and_cache_together_are_refused():
    with pytest.raises(ImproperlyConfigured, match="both 'url' and 'cache'"):
        RedisBackend(url="redis://h/0", cache="default")


def test_pending_set_names_the_key_prefix():
    assert RedisBackend(pending_set="symphra:pending").key_prefix == "symphra:pending"


def test_key_prefix_is_validated():
    with pytest.raises(ValueError, match="key_prefix"):
        RedisBackend(key_prefix="bad prefix}")


def test_missing_redis_package_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_redis(name, *args, **kwargs):
        if name == "redis" or name.startswith("redis."):
            raise ImportError("No module named 'redis'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_redis)
    with pytest.raises(ImproperlyConfigured, match=r"symphra-django\[redis\]"):
        import_redis()


def test_settings_alias_builds_a_connected_redis_backend():
    from symphra_django.backends import backends

    require_redis()
    config = {"BACKENDS": {"fast": {"BACKEND": "redis", "OPTIONS": {
        "url": "redis://127.0.0.1:6379/0", "key_prefix": "aliastest", "queue_name": "mail",
        "lease_seconds": 5, "max_attempts": 3, "max_connections": 10, "socket_timeout": 2,
    }}}}
    with override_settings(SYMPHRA=config):
        backend = backends["fast"]
        assert isinstance(backend, RedisBackend)
        assert (backend.default_queue, backend.default_lease_seconds, backend.max_attempts) == ("mail", 5.0, 3)
        assert backend.health_check_sync() is True


def test_unknown_redis_option_is_refused_listing_the_valid_ones():
    from symphra_django.backends.handler import build_backend

    with pytest.raises(ImproperlyConfigured, match=r"unknown option\(s\) 'exchange_name'.*key_prefix"):
        build_backend("x", {"BACKEND": "redis", "OPTIONS": {"exchange_name": "x"}})


def require_redis():
    from tests.support.services import require

    require("redis")
