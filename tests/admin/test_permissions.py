"""Who may see and do what in the operations admin (docs/admin.md, Permissions)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.admin import OPERATIONS_PERMISSIONS, actions, make_user, pages

pytestmark = pytest.mark.django_db

PAGES = list(pages())
ACTIONS = list(actions())


@pytest.fixture(autouse=True)
def _memory(memory):
    return memory


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_the_admin_login(client, page):
    url, _ = pages()[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_cannot_act(client, action):
    url, _, data = actions()[action]
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("page", PAGES)
def test_a_user_who_is_not_staff_is_sent_to_the_login_even_with_permissions(client, django_user_model, page):
    login(client, make_user(django_user_model, "visitor", staff=False, perms=OPERATIONS_PERMISSIONS))
    url, _ = pages()[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("page", PAGES)
def test_staff_without_the_apps_permissions_gets_403_on_every_page(client, django_user_model, page):
    login(client, make_user(django_user_model, "staff"))
    url, _ = pages()[page]
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("action", ACTIONS)
def test_staff_without_the_apps_permissions_gets_403_on_every_action(client, django_user_model, action, memory):
    login(client, make_user(django_user_model, "staff"))
    url, _, data = actions()[action]
    assert client.post(url, data).status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_each_page_opens_with_exactly_its_view_permission(client, django_user_model, page):
    url, permission = pages()[page]
    login(client, make_user(django_user_model, "viewer", perms=(permission,)))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_needs_its_own_permission(client, django_user_model, action):
    url, permission, data = actions()[action]
    others = tuple(p for p in OPERATIONS_PERMISSIONS if p != permission)
    login(client, make_user(django_user_model, "almost", perms=others))
    assert client.post(url, data).status_code == 403


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_allowed_with_its_permission(client, django_user_model, action):
    url, permission, data = actions()[action]
    login(client, make_user(django_user_model, "operator", perms=(permission,)))
    response = client.post(url, data)
    assert response.status_code == 302
    assert not response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "purge"])
def test_get_on_a_mutating_url_is_405(client, django_user_model, action):
    url, permission, _ = actions()[action]
    login(client, make_user(django_user_model, "operator", perms=(permission,)))
    assert client.get(url).status_code == 405


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_requires_the_csrf_token(django_user_model, action):
    url, permission, data = actions()[action]
    client = login(Client(enforce_csrf_checks=True), make_user(django_user_model, "operator", perms=(permission,)))
    assert client.post(url, data).status_code == 403


def test_the_app_section_lists_only_the_pages_a_user_may_view(client, django_user_model):
    login(client, make_user(django_user_model, "viewer", perms=("view_queue",)))
    body = client.get("/admin/").content.decode()
    assert "Symphra tasks" in body
    assert "/admin/symphra_django/queue/" in body
    assert "/admin/symphra_django/failedtask/" not in body


def test_staff_without_permissions_does_not_see_the_app_section(client, django_user_model):
    login(client, make_user(django_user_model, "staff"))
    assert "Symphra tasks" not in client.get("/admin/").content.decode()
