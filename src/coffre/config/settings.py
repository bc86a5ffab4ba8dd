from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from coffre.errors import CoffreError

CONFIG_FILE = "config.toml"


class ConfigError(CoffreError):
    """A setting is missing or has a value Coffre cannot use."""


class Environment(StrEnum):
    DEMO = "demo"
    DEVELOPMENT = "development"
    PRODUCTION = "production"


@dataclass(frozen=True)
class Settings:
    home: Path
    environment: Environment = Environment.DEVELOPMENT
    database_url: str = ""
    keystore_url: str = ""
    key_provider: str = "file"
    key_file: Path = Path()
    pkcs11_module: str = ""
    pkcs11_token_label: str = ""
    pkcs11_pin: str = field(default="", repr=False)
    document_max_bytes: int = 100 * 1024 * 1024
    document_chunk_bytes: int = 256 * 1024
    dek_cache_size: int = 4096
    phone_regions: tuple[str, ...] = ("FR", "BE")
    host: str = "127.0.0.1"
    port: int = 8000
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto `coffre serve`
    # believes (comma-separated, "*" for any); none by default, so that no local process
    # can choose the source address the journal and the sign-in throttle record.
    trusted_proxies: str = ""
    journal_origin: str = ""
    checkpoint_dir: Path = Path()
    checkpoint_command: str = ""
    checkpoint_every_entries: int = 1000
    checkpoint_every_seconds: int = 60
    # How long each kind of care relationship lasts, in days, where it differs from the
    # default (e.g. "appointment=60,teleconsultation=14"); and the longest emergency access.
    relationship_days: tuple[tuple[str, int], ...] = ()
    break_glass_hours: int = 4
    # Sessions: idle timeout for professionals and staff, for patients, absolute timeout.
    session_idle_minutes: int = 15
    session_idle_minutes_patient: int = 30
    session_hours: int = 12
    # Failed sign-ins: free failures per username and hour, the longest lock of a username,
    # failures per source and hour before the source is locked, and that lock's length.
    signin_free_failures: int = 3
    signin_longest_lock_minutes: int = 15
    signin_source_failures: int = 20
    signin_source_lock_minutes: int = 60
    # WebAuthn relying party: the site's domain and the origin browsers see.
    webauthn_rp_id: str = "localhost"
    # The origin clients and browsers use (links, Location headers, token audiences,
    # passkeys). Unless set, this machine's name on the port served: see `serving_on`.
    public_origin: str = "http://localhost:8000"
    public_origin_set: bool = False
    # The FHIR API: the largest request body, and the deepest JSON nesting, it reads.
    api_max_body_bytes: int = 1024 * 1024
    api_max_depth: int = 32
    # Documents streamed in at once (`POST Binary`): each holds a worker thread while it
    # arrives, and the threads are shared with every other call.
    api_max_uploads: int = 4
    # The inline guard: distinct patients an account, or a machine client, may open within
    # the sliding window before the gate refuses the next new one (records/guard.py).
    guard_patients: int = 20
    guard_client_patients: int = 50
    guard_window_seconds: int = 600
    # The watch: rule files an installation adds to the shipped rules, and whether
    # `coffre serve` follows the journal with them in the background.
    watch_rules: tuple[Path, ...] = ()
    watch_in_serve: bool = True

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def serving_on(self, port: int) -> Settings:
        """These settings for a server listening on `port`: the public origin follows the
        port unless COFFRE_PUBLIC_ORIGIN (or config.toml) set it."""
        origin = self.public_origin if self.public_origin_set else local_origin(port)
        return replace(self, port=port, public_origin=origin)


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"Unexpected value {name}={raw!r}, use a whole number.") from None
    if value <= 0:
        raise ConfigError(f"Unexpected value {name}={raw!r}, use a positive number.")
    return value


def _environment(name: str, raw: str) -> Environment:
    try:
        return Environment(raw.strip().lower())
    except ValueError:
        choices = ", ".join(e.value for e in Environment)
        raise ConfigError(f"Unexpected value {name}={raw!r}, use one of {choices}.") from None


def _regions(name: str, raw: str) -> tuple[str, ...]:
    regions = tuple(r.strip().upper() for r in raw.split(",") if r.strip())
    if not regions or any(len(r) != 2 or not r.isalpha() for r in regions):
        raise ConfigError(f"Unexpected value {name}={raw!r}, use country codes such as FR,BE.")
    return regions


def _days(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    pairs = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        kind, _, days = part.partition("=")
        try:
            value = int(days)
        except ValueError:
            value = 0
        if not kind.strip() or value <= 0:
            raise ConfigError(
                f"Unexpected value {name}={raw!r}, use kind=days pairs such as appointment=90."
            )
        pairs.append((kind.strip().lower(), value))
    return tuple(pairs)


def _paths(_name: str, raw: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()).expanduser() for p in raw.split(",") if p.strip())


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise ConfigError(f"Unexpected value {name}={raw!r}, use true or false.")
    return value in {"true", "1", "yes"}


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE."""
    if name in env:
        return env[name]
    path = env.get(f"{name}_FILE")
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        raise ConfigError(f"Cannot read {name}_FILE={path!r}.") from None


# setting name -> (environment variable, coercer)
_FIELDS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "environment": ("COFFRE_ENVIRONMENT", _environment),
    "database_url": ("COFFRE_DATABASE_URL", lambda _n, v: v),
    "keystore_url": ("COFFRE_KEYSTORE_URL", lambda _n, v: v),
    "key_provider": ("COFFRE_KEY_PROVIDER", lambda _n, v: v.strip().lower()),
    "key_file": ("COFFRE_KEY_FILE", lambda _n, v: Path(v)),
    "pkcs11_module": ("COFFRE_PKCS11_MODULE", lambda _n, v: v),
    "pkcs11_token_label": ("COFFRE_PKCS11_TOKEN", lambda _n, v: v),
    "document_max_bytes": ("COFFRE_DOCUMENT_MAX_BYTES", _int),
    "document_chunk_bytes": ("COFFRE_DOCUMENT_CHUNK_BYTES", _int),
    "dek_cache_size": ("COFFRE_DEK_CACHE_SIZE", _int),
    "phone_regions": ("COFFRE_PHONE_REGIONS", _regions),
    "host": ("COFFRE_HOST", lambda _n, v: v),
    "port": ("COFFRE_PORT", _int),
    "trusted_proxies": ("COFFRE_TRUSTED_PROXIES", lambda _n, v: v.strip()),
    "journal_origin": ("COFFRE_JOURNAL_ORIGIN", lambda _n, v: v.strip()),
    "checkpoint_dir": ("COFFRE_CHECKPOINT_DIR", lambda _n, v: Path(v)),
    "checkpoint_command": ("COFFRE_CHECKPOINT_COMMAND", lambda _n, v: v),
    "checkpoint_every_entries": ("COFFRE_CHECKPOINT_EVERY_ENTRIES", _int),
    "checkpoint_every_seconds": ("COFFRE_CHECKPOINT_EVERY_SECONDS", _int),
    "relationship_days": ("COFFRE_RELATIONSHIP_DAYS", _days),
    "break_glass_hours": ("COFFRE_BREAK_GLASS_HOURS", _int),
    "session_idle_minutes": ("COFFRE_SESSION_IDLE_MINUTES", _int),
    "session_idle_minutes_patient": ("COFFRE_SESSION_IDLE_MINUTES_PATIENT", _int),
    "session_hours": ("COFFRE_SESSION_HOURS", _int),
    "signin_free_failures": ("COFFRE_SIGNIN_FREE_FAILURES", _int),
    "signin_longest_lock_minutes": ("COFFRE_SIGNIN_LONGEST_LOCK_MINUTES", _int),
    "signin_source_failures": ("COFFRE_SIGNIN_SOURCE_FAILURES", _int),
    "signin_source_lock_minutes": ("COFFRE_SIGNIN_SOURCE_LOCK_MINUTES", _int),
    "webauthn_rp_id": ("COFFRE_WEBAUTHN_RP_ID", lambda _n, v: v.strip().lower()),
    "public_origin": ("COFFRE_PUBLIC_ORIGIN", lambda _n, v: v.strip().rstrip("/")),
    "api_max_body_bytes": ("COFFRE_API_MAX_BODY_BYTES", _int),
    "api_max_depth": ("COFFRE_API_MAX_DEPTH", _int),
    "api_max_uploads": ("COFFRE_API_MAX_UPLOADS", _int),
    "guard_patients": ("COFFRE_GUARD_PATIENTS", _int),
    "guard_client_patients": ("COFFRE_GUARD_CLIENT_PATIENTS", _int),
    "guard_window_seconds": ("COFFRE_GUARD_WINDOW_SECONDS", _int),
    "watch_rules": ("COFFRE_WATCH_RULES", _paths),
    "watch_in_serve": ("COFFRE_WATCH_IN_SERVE", _flag),
}


def _read_config_file(home: Path) -> dict[str, Any]:
    path = home / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}.") from None
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"Unknown setting {sorted(unknown)[0]!r} in {path}.")
    values: dict[str, Any] = {}
    for key, raw in data.items():
        coercer = _FIELDS[key][1]
        if isinstance(raw, list):
            raw = ",".join(str(r) for r in raw)
        elif isinstance(raw, dict):
            raw = ",".join(f"{k}={v}" for k, v in raw.items())
        values[key] = coercer(f"{key} in {path}", str(raw))
    return values


def load_settings(home: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings once: arguments, then COFFRE_* variables, then config.toml, then defaults."""
    env = os.environ if env is None else env
    home_path = Path(home or env.get("COFFRE_HOME") or ".coffre").expanduser().absolute()
    values: dict[str, Any] = _read_config_file(home_path)
    for key, (var, coercer) in _FIELDS.items():
        if var in env and env[var] != "":
            values[key] = coercer(var, env[var])
    pin = _secret(env, "COFFRE_PKCS11_PIN")
    if pin is not None:
        values["pkcs11_pin"] = pin
    values.setdefault("database_url", f"sqlite:///{home_path / 'coffre.db'}")
    values.setdefault("keystore_url", f"sqlite:///{home_path / 'keys' / 'keystore.db'}")
    values.setdefault("key_file", home_path / "keys" / "kek.json")
    values.setdefault("checkpoint_dir", home_path / "checkpoints")
    values["public_origin_set"] = "public_origin" in values
    values.setdefault("public_origin", local_origin(values.get("port", Settings.port)))
    if values.get("key_provider", "file") not in {"file", "pkcs11"}:
        raise ConfigError(
            f"Unexpected key provider {values['key_provider']!r}, use 'file' or 'pkcs11'."
        )
    settings = Settings(home=home_path, **values)
    if settings.database_url == settings.keystore_url:
        raise ConfigError(
            "The key store must not live in the main database; set COFFRE_KEYSTORE_URL."
        )
    return settings


def local_origin(port: int) -> str:
    """The public origin of a Coffre that no setting names: this machine, on its port."""
    return f"http://localhost:{port}"


def write_config(settings: Settings, **entries: Any) -> Path:
    """Write the chosen entries to $COFFRE_HOME/config.toml and return its path."""
    lines = ["# Coffre settings; COFFRE_* environment variables override them."]
    for key, value in entries.items():
        if key not in _FIELDS:
            raise ConfigError(f"Unknown setting {key!r}.")
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key} = "{text}"')
    path = settings.home / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
