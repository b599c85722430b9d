from __future__ import annotations

from pathlib import Path

import pytest

from safereport.config import Secret, load_settings
from safereport.domain.synthetic import synthetic_cases
from safereport.errors import ConfigError


def test_secrets_never_print() -> None:
    secret = Secret("hunter2-very-secret")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret!r} {secret}"


def test_database_url_from_environment_is_secret(tmp_path: Path) -> None:
    url = "postgresql://u:pw-9876@127.0.0.1/db"
    settings = load_settings(tmp_path, env={"SAFEREPORT_DATABASE_URL": url})
    assert settings.effective_database_url() == url
    assert "pw-9876" not in repr(settings)


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("port = 'eighty'\n")
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(tmp_path, env={})
    (tmp_path / "config.toml").write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(tmp_path, env={})
    (tmp_path / "config.toml").write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path, env={})


def test_synthetic_data_is_deterministic_and_synthetic() -> None:
    first = list(synthetic_cases(7, 200, 3))
    again = list(synthetic_cases(7, 200, 3))
    other = list(synthetic_cases(8, 200, 3))
    assert first == again
    assert first != other
    phones = [c.fields.get("phone") for c in first if "phone" in c.fields]
    assert phones and all(p.startswith("07700 900") for p in phones)  # Ofcom drama range
    emails = [c.fields["email"] for c in first if "email" in c.fields]
    assert all(e.endswith("@example.org") for e in emails)
    assert len({c.language for c in first}) >= 4


def test_synthetic_generator_is_lazy() -> None:
    stream = synthetic_cases(1, 10**9, 2)  # would never fit in memory if it were a list
    assert next(stream).number == 0


def test_case_references_are_readable_and_long_enough() -> None:
    import re

    from safereport.domain.case import new_reference

    refs = {new_reference() for _ in range(20_000)}
    assert len(refs) == 20_000
    for ref in list(refs)[:100]:
        assert re.fullmatch(r"SR-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", ref)


def test_deployment_choices_reach_the_parts_that_read_them(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'intake_org = "Harbour (synthetic)"\nquick_exit_url = "https://example.org/"\n'
    )
    settings = load_settings(tmp_path, env={"SAFEREPORT_QUICK_EXIT_URL": "https://example.net/"})
    assert settings.extra == {
        "intake_org": "Harbour (synthetic)",
        "quick_exit_url": "https://example.net/",  # the environment wins
    }
