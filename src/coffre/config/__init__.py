"""One frozen settings object, read once from the home directory and the environment.

Only this package reads the environment. Order of precedence: environment variables
(`COFFRE_*`), then `$COFFRE_HOME/config.toml`, then defaults that run embedded.
"""

from coffre.config.settings import (
    ConfigError,
    Environment,
    Settings,
    load_settings,
    write_config,
)

__all__ = ["ConfigError", "Environment", "Settings", "load_settings", "write_config"]
