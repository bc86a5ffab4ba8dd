"""The root of every error Coffre raises on purpose.

CoffreError
 ├── config.ConfigError
 ├── crypto.CryptoError …
 ├── access.AccessDenied
 ├── journal.JournalError
 ├── records.RecordsError …
 └── watch.WatchError …

Each message is one sentence for a human reader and never holds patient data or key
material; interfaces print it as it is.
"""


class CoffreError(Exception):
    """An expected failure, explained in one sentence."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
