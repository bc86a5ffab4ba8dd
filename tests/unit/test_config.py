"""Settings: environment over config file over defaults, and clear errors."""

from __future__ import annotations

import pytest

from coffre.config import ConfigError, Environment, load_settings, write_config


def test_defaults_run_embedded_under_the_home(tmp_path):
    settings = load_settings(tmp_path, env={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'coffre.db'}"
    assert settings.keystore_url == f"sqlite:///{tmp_path / 'keys' / 'keystore.db'}"
    assert settings.key_file == tmp_path / "keys" / "kek.json"
    assert settings.environment is Environment.DEVELOPMENT


def test_environment_overrides_the_config_file(tmp_path):
    write_config(load_settings(tmp_path, env={}), environment="demo", port="9000")
    assert load_settings(tmp_path, env={}).environment is Environment.DEMO
    settings = load_settings(
        tmp_path, env={"COFFRE_ENVIRONMENT": "production", "COFFRE_PORT": "81"}
    )
    assert (settings.environment, settings.port) == (Environment.PRODUCTION, 81)


def test_the_sign_in_limits_come_from_the_environment(tmp_path):
    settings = load_settings(
        tmp_path,
        env={
            "COFFRE_SIGNIN_FREE_FAILURES": "5",
            "COFFRE_SIGNIN_LONGEST_LOCK_MINUTES": "30",
            "COFFRE_SIGNIN_SOURCE_FAILURES": "50",
            "COFFRE_SIGNIN_SOURCE_LOCK_MINUTES": "120",
        },
    )
    assert (
        settings.signin_free_failures,
        settings.signin_longest_lock_minutes,
        settings.signin_source_failures,
        settings.signin_source_lock_minutes,
    ) == (5, 30, 50, 120)


def test_the_home_comes_from_coffre_home(tmp_path):
    assert load_settings(env={"COFFRE_HOME": str(tmp_path)}).home == tmp_path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COFFRE_PORT": "eighty"}, "COFFRE_PORT='eighty', use a whole number"),
        ({"COFFRE_PORT": "-1"}, "use a positive number"),
        ({"COFFRE_SIGNIN_FREE_FAILURES": "0"}, "COFFRE_SIGNIN_FREE_FAILURES='0', use a positive"),
        ({"COFFRE_ENVIRONMENT": "staging"}, "use one of demo, development, production"),
        ({"COFFRE_KEY_PROVIDER": "vault"}, "use 'file' or 'pkcs11'"),
        ({"COFFRE_PHONE_REGIONS": "FRA"}, "country codes"),
        ({"COFFRE_PKCS11_PIN_FILE": "/nonexistent/pin"}, "Cannot read COFFRE_PKCS11_PIN_FILE"),
        ({"COFFRE_WATCH_IN_SERVE": "perhaps"}, "COFFRE_WATCH_IN_SERVE='perhaps', use true or"),
        ({"COFFRE_GUARD_PATIENTS": "0"}, "COFFRE_GUARD_PATIENTS='0', use a positive"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(tmp_path, env=env)


def test_the_key_store_may_not_be_the_main_database(tmp_path):
    with pytest.raises(ConfigError, match="must not live in the main database"):
        load_settings(
            tmp_path,
            env={"COFFRE_DATABASE_URL": "sqlite:///x.db", "COFFRE_KEYSTORE_URL": "sqlite:///x.db"},
        )


def test_an_unknown_setting_in_the_file_is_refused(tmp_path):
    (tmp_path / "config.toml").write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        load_settings(tmp_path, env={})


def test_a_pin_can_come_from_a_file_and_is_not_in_the_repr(tmp_path):
    (tmp_path / "pin").write_text("4321\n")
    settings = load_settings(tmp_path, env={"COFFRE_PKCS11_PIN_FILE": str(tmp_path / "pin")})
    assert settings.pkcs11_pin == "4321"
    assert "4321" not in repr(settings)


def test_only_sqlite_and_postgresql_are_accepted():
    from coffre.store import StoreError, make_engine

    with pytest.raises(StoreError, match="is not supported"):
        make_engine("mysql://user@host/db")
    with pytest.raises(StoreError, match="is not supported"):
        make_engine("nonsense")


def test_relationship_durations_come_from_the_environment_or_the_file(tmp_path):
    from datetime import timedelta

    from coffre.access import RelationshipKind
    from coffre.bootstrap import durations

    env = {"COFFRE_RELATIONSHIP_DAYS": "appointment=60, teleconsultation=14"}
    chosen = durations(load_settings(tmp_path, env=env))
    assert chosen.of(RelationshipKind.APPOINTMENT) == timedelta(days=60)
    assert chosen.of(RelationshipKind.TELECONSULTATION) == timedelta(days=14)
    assert chosen.of(RelationshipKind.REFERRAL) == timedelta(days=183)  # the default
    (tmp_path / "config.toml").write_text(
        "break_glass_hours = 2\n[relationship_days]\nadmission = 45\n"
    )
    chosen = durations(load_settings(tmp_path, env={}))
    assert chosen.of(RelationshipKind.ADMISSION) == timedelta(days=45)
    assert chosen.break_glass == timedelta(hours=2)


@pytest.mark.parametrize("raw", ["appointment", "appointment=soon", "appointment=0", "=5"])
def test_a_malformed_duration_is_refused(tmp_path, raw):
    with pytest.raises(ConfigError, match="kind=days"):
        load_settings(tmp_path, env={"COFFRE_RELATIONSHIP_DAYS": raw})


def test_an_unknown_relationship_kind_is_refused_at_start(tmp_path):
    from coffre.bootstrap import durations

    settings = load_settings(tmp_path, env={"COFFRE_RELATIONSHIP_DAYS": "friendship=3"})
    with pytest.raises(ConfigError, match="Unknown care relationship kind 'friendship'"):
        durations(settings)


def test_the_watch_and_the_guard_are_set_from_the_environment_or_the_file(tmp_path):
    defaults = load_settings(tmp_path, env={})
    assert (defaults.watch_in_serve, defaults.watch_rules, defaults.trusted_proxies) == (
        True,
        (),
        "",
    )
    env = {
        "COFFRE_WATCH_IN_SERVE": "false",
        "COFFRE_WATCH_RULES": "a.yml, /etc/coffre/b.yml",
        "COFFRE_GUARD_PATIENTS": "7",
        "COFFRE_GUARD_WINDOW_SECONDS": "60",
    }
    chosen = load_settings(tmp_path, env=env)
    assert not chosen.watch_in_serve
    assert [p.name for p in chosen.watch_rules] == ["a.yml", "b.yml"]
    (tmp_path / "config.toml").write_text("watch_in_serve = true\nguard_client_patients = 9\n")
    from_file = load_settings(tmp_path, env={})
    assert from_file.watch_in_serve and from_file.guard_client_patients == 9
    assert chosen.guard_patients == 7


def test_the_public_origin_follows_the_port_unless_it_is_set(tmp_path):
    default = load_settings(tmp_path, env={})
    assert (default.public_origin, default.public_origin_set) == ("http://localhost:8000", False)
    on_port = load_settings(tmp_path, env={"COFFRE_PORT": "8717"})
    assert on_port.public_origin == "http://localhost:8717"
    served = default.serving_on(9001)
    assert (served.port, served.public_origin) == (9001, "http://localhost:9001")
    given = load_settings(tmp_path, env={"COFFRE_PUBLIC_ORIGIN": "https://coffre.example.org/"})
    assert given.public_origin_set
    assert given.serving_on(9001).public_origin == "https://coffre.example.org"
    write_config(default, public_origin="http://localhost:8000")
    from_file = load_settings(tmp_path, env={"COFFRE_PORT": "8717"}).serving_on(9001)
    assert from_file.public_origin == "http://localhost:8000"  # as configured: `serve` warns
