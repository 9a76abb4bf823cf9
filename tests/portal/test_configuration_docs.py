"""The README's configuration table names every environment variable the settings read, and
nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "platform" / "config" / "settings.py"
# env("X"...), env.int("X"...), env.email_url("X"...), environ.Env().str("X"...)
READ = re.compile(r"""\benv(?:\(\))?(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read_by_settings() -> set[str]:
    return set(READ.findall(SETTINGS.read_text()))


def variables_in_the_readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_read_from_the_environment_is_documented():
    read = variables_read_by_settings()
    assert {"DATABASE_URL", "EMAIL_URL", "VAR_DIR", "SECRET_KEY"} <= read  # the parser works
    assert sorted(read - variables_in_the_readme_table()) == []


def test_the_table_documents_only_real_settings():
    assert sorted(variables_in_the_readme_table() - variables_read_by_settings()) == []
