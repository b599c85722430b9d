from __future__ import annotations

from pathlib import Path

import pytest

from safereport.config import Secret, load_settings
from safereport.domain.codename import DEFAULT_PARAMS
from safereport.domain.passwords import Argon2idHasher, UnsafeCheapHasherForTests
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
    assert settings.intake_org == "Harbour (synthetic)"
    assert settings.quick_exit_url == "https://example.net/"  # the environment wins


def test_deployment_choices_are_typed_with_their_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert not hasattr(settings, "extra")
    assert (settings.witnesses, settings.publish_quorum, settings.publish_before_quorum) == \
        ("", "", False)
    assert (settings.pad_seconds, settings.pad_leaves) == (0.0, 32)
    assert (settings.form_limit_per_hour, settings.form_attack_per_hour,
            settings.form_wait_seconds, settings.form_attack_wait_seconds,
            settings.form_pow_max_number, settings.form_attack_pow_max_number,
            settings.form_challenge_limit_per_hour, settings.report_limit_per_hour) == \
        (60, 60, 0, 20, 20_000, 500_000, 120, 30)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("", 25, False)
    assert settings.smtp_password is None and settings.sms_gateway_token is None
    assert isinstance(settings.password_hasher, Argon2idHasher)
    assert not isinstance(settings.password_hasher, UnsafeCheapHasherForTests)
    assert settings.argon2 == DEFAULT_PARAMS
    assert load_settings(tmp_path, env={}) == settings  # the same choices compare equal


def test_deployment_choices_from_the_file_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'smtp_port = 587\nsmtp_starttls = true\nsmtp_password = "file-secret"\n'
        'form_wait_seconds = "5"\npad_seconds = 60\npublish_before_quorum = "yes"\n'
    )
    settings = load_settings(tmp_path, env={
        "SAFEREPORT_SMS_GATEWAY_TOKEN": "env-token", "SAFEREPORT_REPORT_LIMIT_PER_HOUR": "12",
        "SAFEREPORT_FORM_ATTACK_PER_HOUR": " ", "SAFEREPORT_PAD_LEAVES": "16"})
    assert (settings.smtp_port, settings.smtp_starttls, settings.form_wait_seconds) == \
        (587, True, 5)
    assert (settings.pad_seconds, settings.pad_leaves, settings.publish_before_quorum) == \
        (60.0, 16, True)
    assert settings.report_limit_per_hour == 12
    assert settings.form_attack_per_hour == 60  # blank, as before: the default
    assert settings.smtp_password == Secret("file-secret")
    assert settings.sms_gateway_token == Secret("env-token")
    assert "file-secret" not in repr(settings) and "env-token" not in repr(settings)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("smtp_port", "submission", "'smtp_port' must be a whole number"),
    ("smtp_port", "0", "'smtp_port' must be between 1 and 65535"),
    ("smtp_starttls", "perhaps", "'smtp_starttls' must be true or false"),
    ("report_limit_per_hour", "lots", "'report_limit_per_hour' must be a whole number"),
    ("form_wait_seconds", "-3", "'form_wait_seconds' must be 0 or more"),
    ("pad_seconds", "soon", "'pad_seconds' must be a number"),
    ("pad_seconds", "nan", "'pad_seconds' must be a number"),
    ("pad_leaves", "100001", "'pad_leaves' must be a whole number from 1 to 100000"),
    ("publish_quorum", "most", "'publish_quorum' must be a number or 'all'"),
    ("publish_before_quorum", "maybe", "'publish_before_quorum' must be true or false"),
    ("quick_exit_url", "http://example.org/", "'quick_exit_url' must be an https:// address"),
])
def test_a_bad_deployment_choice_is_refused_when_loaded(
        tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, env={f"SAFEREPORT_{name.upper()}": value})


@pytest.mark.parametrize("name", ["password_hasher", "argon2", "notifiers",
                                  "codename_failures_per_minute", "extra"])
def test_the_test_seams_cannot_be_chosen_in_the_configuration_file(
        tmp_path: Path, name: str) -> None:
    (tmp_path / "config.toml").write_text(f'{name} = "cheap"\n')
    with pytest.raises(ConfigError, match=f"unknown setting.*{name}"):
        load_settings(tmp_path, env={})
    settings = load_settings(tmp_path / "elsewhere", env={f"SAFEREPORT_{name.upper()}": "cheap"})
    assert isinstance(settings.password_hasher, Argon2idHasher)
    assert not isinstance(settings.password_hasher, UnsafeCheapHasherForTests)
    assert settings.argon2 == DEFAULT_PARAMS and settings.notifiers is None
