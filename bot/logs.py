"""JSON log lines with secrets scrubbed: configured once by each entry point, never at import."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable

_TOKEN_PATTERNS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\"(?:access_token|client_secret|encryptedBackupEncryptionKey)\"\s*:\s*\"[^\"]*\")"
)
REDACTED = "[redacted]"
CONTEXT_FIELDS = ("job_id", "backup_id", "stamp", "correlation_id")
"""Passed as ``extra=`` by the poller so log pipelines can follow one backup across processes."""


class SecretFilter(logging.Filter):
    """Replaces known secret values and token-shaped strings in every record before it is written."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_PATTERNS.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log pipelines can index job ids and correlation ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = str(value)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(secrets: Iterable[str] = (), level: str = "INFO") -> None:
    """Route every logger through one scrubbing JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "msal", "slack_sdk.web.base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
