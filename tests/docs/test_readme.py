"""The README is also the package's page on a package index, where relative
links do not resolve: its links are absolute, and those into the docs site
name pages that exist. The site's address is the same in pyproject.toml,
mkdocs.yml and the README."""

from __future__ import annotations

import re
import tomllib

from tests.docs.snippets import DOCS, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SITE = PROJECT["urls"]["Documentation"]
LINKS = re.findall(r"\]\(([^)\s]+)\)", README)


def test_the_site_address_is_the_same_in_pyproject_mkdocs_and_the_readme():
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(rf"^site_url: {re.escape(SITE)}$", mkdocs, re.M)
    assert re.search(rf"^repo_url: {re.escape(PROJECT['urls']['Repository'])}$", mkdocs, re.M)
    assert any(link.startswith(SITE) for link in LINKS)


def test_every_readme_link_is_absolute():
    relative = [link for link in LINKS if not link.startswith(("https://", "http://"))]
    assert relative == [], "a package index page cannot resolve these"


def test_readme_links_into_the_site_name_pages_that_exist():
    for link in LINKS:
        if link.startswith(SITE):
            page = link[len(SITE):].split("#")[0].strip("/")
            assert (DOCS / f"{page}.md").exists() or (DOCS / page / "index.md").exists(), link
