"""Simplified Chinese first, English one click away: the main pages in both languages, the
zh_Hans catalogue complete, and the language switch.

The .mo files are compiled by `manage.py compile_translations` (the Makefile's test target
runs it); the `compiled_catalogues` fixture compiles them again before these tests so they
always see the current .po.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import client_for

ZH_PO = Path(settings.BASE_DIR) / "platform" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CJK = re.compile(r"[\u4e00-\u9fff]")

SELLER_NAV = ["Dashboard", "Stores", "Catalog", "Jobs", "Review", "Effects", "Usage", "Members",
              "API keys", "Company"]
STAFF_NAV = ["Tenants", "Usage", "Invoices", "Stores waiting for a pack", "Jobs", "Model nodes",
             "Instructions", "Banned words", "Model requests", "Model cost"]


def read_catalogue(path: Path = ZH_PO):
    with path.open("rb") as po_file:
        return read_po(po_file)


@pytest.fixture(scope="module")
def zh_catalogue():
    return read_catalogue()


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogues():
    """Compile the .po files, then make Django forget the catalogues it has loaded."""
    call_command("compile_translations", verbosity=0)
    # What Django itself does when LOCALE_PATHS changes (django.test.signals.language_changed).
    from asgiref.local import Local
    from django.utils.translation import trans_real

    trans_real._translations = {}
    trans_real._default = None
    trans_real._active = Local()
    yield


def zh(catalogue, msgid: str, context: str | None = None) -> str:
    message = catalogue.get(msgid, context=context)
    assert message is not None and message.string, f"{msgid!r} has no zh_Hans translation"
    return message.string


# Reading pages ----------------------------------------------------------------------------

class _Page(HTMLParser):
    """Visible text nodes and translatable attributes; the side navigation's links;
    the language switch form."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self.nav: list[str] | None = None
        self.lang_forms: list[dict] = []
        self.html_lang = ""
        self.title = ""
        self._stack: list[str] = []
        self._in_nav = False
        self._in_nav_link = False
        self._in_title = False
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_lang = attrs.get("lang", "")
        if tag == "title":
            self._in_title = True
        if tag in ("script", "style"):
            self._stack.append(tag)
        for name in ("placeholder", "aria-label", "title"):
            if attrs.get(name):
                self.texts.append(attrs[name])
        if tag == "nav" and "sidenav" in attrs.get("class", ""):
            self._in_nav, self.nav = True, []
        if tag == "a" and self._in_nav:
            self._in_nav_link = True
            self.nav.append("")
        if tag == "form" and "lang-switch" in attrs.get("class", ""):
            self._form = {"action": attrs.get("action"), "method": attrs.get("method", ""),
                          "buttons": [], "hidden": {}}
            self.lang_forms.append(self._form)
        if self._form is not None and tag == "input" and attrs.get("type") == "hidden":
            self._form["hidden"][attrs.get("name")] = attrs.get("value")
        if self._form is not None and tag == "button":
            self._form["buttons"].append({"name": attrs.get("name"), "value": attrs.get("value"),
                                          "text": ""})

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._stack:
            self._stack.pop()
        if tag == "title":
            self._in_title = False
        if tag == "nav":
            self._in_nav = False
        if tag == "a":
            self._in_nav_link = False
        if tag == "form":
            self._form = None

    def handle_data(self, data):
        if self._stack:
            return
        if self._in_title:
            self.title += data
        text = data.strip()
        if not text:
            return
        if self._form is not None:
            # Language names in their own language ("English", "简体中文"), on purpose.
            if self._form["buttons"]:
                self._form["buttons"][-1]["text"] += text
            return
        self.texts.append(text)
        if self._in_nav_link and not text.isdigit():  # a count badge is not the label
            self.nav[-1] += text


def read_page(response) -> _Page:
    assert response.status_code == 200, response.status_code
    page = _Page()
    page.feed(response.content.decode())
    return page


# The pages --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageSpec:
    id: str
    who: str  # "anonymous", "owner" or "admin"
    url_name: str
    title: str  # English msgid of the page title
    nav: list[str] | None
    title_domain: str = "ours"  # "allauth" when allauth's catalogue translates the title


PAGES = [
    PageSpec("login", "anonymous", "account_login", "Sign in", None),
    PageSpec("dashboard", "owner", "dashboard", "Dashboard", SELLER_NAV),
    PageSpec("stores", "owner", "stores", "Stores", SELLER_NAV),
    PageSpec("catalog", "owner", "catalog", "Catalog", SELLER_NAV),
    PageSpec("jobs", "owner", "jobs", "Jobs", SELLER_NAV),
    PageSpec("review", "owner", "review", "Review", SELLER_NAV),
    PageSpec("effects", "owner", "effects", "Effects", SELLER_NAV),
    PageSpec("usage", "owner", "usage", "Usage", SELLER_NAV),
    PageSpec("statements", "owner", "statements", "Statements and invoices", SELLER_NAV),
    PageSpec("members", "owner", "members", "Members", SELLER_NAV),
    PageSpec("api_keys", "owner", "api_keys", "API keys", SELLER_NAV),
    PageSpec("company", "owner", "company", "Company", SELLER_NAV),
    PageSpec("console_tenants", "admin", "console_tenants", "Tenants", STAFF_NAV),
    PageSpec("console_tenant", "admin", "console_tenant", "", STAFF_NAV),
    PageSpec("finance_usage", "admin", "finance_usage", "Usage", STAFF_NAV),
    PageSpec("finance_invoices", "admin", "finance_invoices", "Invoices", STAFF_NAV),
    PageSpec("finance_reconciliation", "admin", "finance_reconciliation", "Reconciliation",
             STAFF_NAV),
]


@pytest.fixture
def people(world_a, platform_admin):
    return {"anonymous": lambda: Client(),
            "owner": lambda: client_for(world_a.owner, world_a.tenant),
            "admin": lambda: client_for(platform_admin),
            "world": world_a}


def get_page(people, spec: PageSpec, language: str | None):
    client = people[spec.who]()
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    args = [people["world"].tenant.slug] if spec.url_name == "console_tenant" else []
    return read_page(client.get(reverse(spec.url_name, args=args)))


def untranslated(page: _Page, catalogue) -> list[str]:
    """Text on a Chinese page that is one of our English source strings."""
    english = {m.id for m in catalogue if m.id and isinstance(m.id, str)
               and m.string and m.string != m.id}
    return sorted({t for t in page.texts if t in english})


@pytest.mark.parametrize("spec", PAGES, ids=[p.id for p in PAGES])
def test_page_in_chinese_by_default(people, spec, zh_catalogue):
    page = get_page(people, spec, language=None)  # LANGUAGE_CODE: zh-hans
    assert page.html_lang == "zh-hans"
    if spec.title_domain == "allauth":
        with translation.override("zh-hans"):
            title = translation.gettext(spec.title)
        assert title == "登录"
    elif spec.title:
        title = zh(zh_catalogue, spec.title)
    else:
        title = people["world"].tenant.name
    assert page.title.strip().startswith(title), page.title
    if spec.nav is not None:
        expected = [zh(zh_catalogue, label) for label in spec.nav]
        assert page.nav == expected
        assert all(CJK.search(label) for label in page.nav), page.nav
        assert not set(page.nav) & set(spec.nav), "English navigation labels on a Chinese page"
        assert zh(zh_catalogue, "Sign out") in page.texts
    leftovers = untranslated(page, zh_catalogue)
    assert not leftovers, f"untranslated English on the Chinese {spec.id} page: {leftovers}"
    english_title = spec.title if spec.title_domain == "ours" else None
    if english_title:
        assert english_title not in page.texts


@pytest.mark.parametrize("spec", PAGES, ids=[p.id for p in PAGES])
def test_page_in_english(people, spec):
    page = get_page(people, spec, language="en")
    assert page.html_lang == "en"
    title = spec.title or people["world"].tenant.name
    assert page.title.strip().startswith(title), page.title
    if spec.nav is not None:
        assert page.nav == spec.nav
        assert "Sign out" in page.texts
    chinese = [t for t in page.texts if CJK.search(t)]
    assert not chinese, f"Chinese text on the English {spec.id} page: {chinese}"


def test_every_page_offers_the_other_language(people):
    for spec in PAGES:
        for language, other, label in (("zh-hans", "en", "English"), ("en", "zh-hans", "简体中文")):
            page = get_page(people, spec, language)
            assert len(page.lang_forms) == 1, spec.id
            buttons = page.lang_forms[0]["buttons"]
            assert [(b["name"], b["value"], b["text"]) for b in buttons] == \
                [("language", other, label)], (spec.id, language, buttons)


# The language switch ----------------------------------------------------------------------

def test_language_switch_posts_to_set_language_and_switches(world_a):
    client = client_for(world_a.owner, world_a.tenant)
    client.handler.enforce_csrf_checks = True
    page = read_page(client.get(reverse("stores")))
    assert page.html_lang == "zh-hans"
    form = page.lang_forms[0]
    assert form["action"] == "/i18n/setlang/" == reverse("set_language")
    assert form["method"].lower() == "post"
    assert form["hidden"]["next"] == reverse("stores")
    button = form["buttons"][0]
    data = {**form["hidden"], button["name"]: button["value"]}
    response = client.post(form["action"], data)
    assert response.status_code == 302
    assert response["Location"] == reverse("stores")
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    english = read_page(client.get(response["Location"]))
    assert english.html_lang == "en"
    assert english.nav == SELLER_NAV
    # And back again.
    form = english.lang_forms[0]
    response = client.post(form["action"], {**form["hidden"], "language": "zh-hans"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert read_page(client.get(response["Location"])).html_lang == "zh-hans"


def test_language_switch_works_before_signing_in(db):
    client = Client()
    page = read_page(client.get(reverse("account_login")))
    form = page.lang_forms[0]
    response = client.post(form["action"], {**form["hidden"], "language": "en"}, follow=True)
    page = read_page(response)
    assert page.html_lang == "en"
    assert "Sign in" in page.title


def test_set_language_refuses_a_foreign_next_url(db):
    response = Client().post(reverse("set_language"),
                             {"language": "en", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


# The catalogue ---------------------------------------------------------------------------

def _messages(catalogue):
    return [m for m in catalogue if m.id]


def test_zh_hans_catalogue_is_complete_and_not_fuzzy(zh_catalogue):
    assert not zh_catalogue.fuzzy, "the catalogue header is marked fuzzy"
    messages = _messages(zh_catalogue)
    assert len(messages) > 100
    untranslated_ids = [m.id for m in messages
                        if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not untranslated_ids, f"untranslated in {ZH_PO}: {untranslated_ids}"
    assert not fuzzy, f"fuzzy in {ZH_PO}: {fuzzy}"


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\{\s*(\w+)\s*\}\}|%[sd]")


def test_zh_hans_translations_keep_their_placeholders(zh_catalogue):
    broken = []
    for message in _messages(zh_catalogue):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if string and sorted(PLACEHOLDER.findall(string)) != wanted:
                broken.append((message.id, string))
    assert not broken, f"translations that lose or invent placeholders: {broken}"


def test_compiled_catalogue_is_what_django_uses(zh_catalogue):
    with translation.override("zh-hans"):
        assert translation.gettext("Dashboard") == zh(zh_catalogue, "Dashboard")
        assert CJK.search(translation.gettext("Dashboard"))
    with translation.override("en"):
        assert translation.gettext("Dashboard") == "Dashboard"


MAKEMESSAGES_IGNORES = [".venv", ".venv/*", "var/*", "tests/*", "staticfiles/*", "docs/*",
                        "*.egg-info"]


@pytest.mark.skipif(not shutil.which("msgmerge"), reason="needs GNU gettext")
def test_every_marked_string_is_in_the_zh_hans_catalogue(tmp_path):
    """`makemessages`, run on a copy of the source, finds nothing the catalogue lacks."""
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "src"
    copy.mkdir()
    shutil.copy(root / "manage.py", copy / "manage.py")
    for folder in ("platform", "tenants", "billing", "templates"):
        shutil.copytree(root / folder, copy / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    command = [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete",
               "--settings=config.test_settings"]
    for pattern in MAKEMESSAGES_IGNORES:
        command += ["--ignore", pattern]
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    refreshed = read_catalogue(copy / "platform" / "locale" / "zh_Hans" / "LC_MESSAGES"
                               / "django.po")
    missing = [(m.context, m.id) for m in _messages(refreshed)
               if m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert not missing, (
        "strings marked for translation in the source but missing (or only fuzzily matched) "
        f"in {ZH_PO}; run `make messages` and translate them: {missing}")
