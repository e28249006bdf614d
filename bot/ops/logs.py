"""JSON log lines with secrets scrubbed: configured once by each entry point, never at import."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from types import TracebackType

from bot.config.proxy import proxy_passwords

_TOKEN_PATTERNS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\"(?:access_token|refresh_token|id_token|client_secret|client_assertion|encryptedBackupEncryptionKey)\""
    r"\s*:\s*\"[^\"]*\""
    # A bare JWT (MSAL's access and id tokens, a certificate's client assertion): base64url JSON header, "eyJ".
    r"|(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
)
_SECRET_PARAMETERS = re.compile(
    r"(?i)\b(client_assertion|client_secret|access_token|refresh_token|id_token|ticket|password)=[^&\s'\"]+"
)
"""A secret in a query string or form body (``?ticket=`` of a Socket Mode URL, ``client_assertion=`` of a token
request): the value goes, the name stays so the line still says what it was."""
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")
"""``scheme://user:password@`` in a URL (``redis://:pw@host``): the credentials go, the host stays."""
QUIET_BELOW_WARNING = ("slack_bolt.RequestVerification",)
"""Loggers whose INFO lines carry request bodies (Bolt logs a rejected request's body); only warnings pass.
Bolt resets its loggers' levels when an App is built, so this is a filter, not a level."""
_BOLT_BODY_QUOTES = ("Unhandled request (", "without providing a response for the request (")
"""Where Bolt's warnings start quoting the request body; what follows is cut off."""
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
        text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + "@", text)
        text = _SECRET_PARAMETERS.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        return _TOKEN_PATTERNS.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and record.name in QUIET_BELOW_WARNING:
            return False
        message = record.getMessage()
        if record.name.startswith("slack_bolt"):
            message = _without_body(message)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _without_body(message: str) -> str:
    for quote in _BOLT_BODY_QUOTES:
        if quote in message:
            return message[: message.index(quote) + len(quote)] + "request body not logged)"
    return message


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


class _SafeStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler whose own failures (a closed pipe) are dropped, not printed as plain-text tracebacks."""

    def handleError(self, record: logging.LogRecord) -> None:
        return None


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None, thread: str = "main"
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        return
    logging.getLogger("azs.crash").critical(
        "uncaught %s in thread %s", kind.__name__, thread, exc_info=(kind, value, tb)
    )


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, args.thread.name if args.thread else "unknown")


def configure_logging(secrets: Iterable[str] = (), level: str = "INFO") -> None:
    """Route every logger, warnings and uncaught exceptions through one scrubbing JSON handler on stderr."""
    handler = _SafeStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "msal", "slack_sdk.web.base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # One "Task queue depth is N" warning per request queued: under a flood the log would grow with the flood.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception


def secrets_in_environment(env: dict[str, str] | None = None) -> list[str]:
    """Secret-looking values straight from the environment, for logging before the settings are validated."""
    env = dict(os.environ) if env is None else env
    names = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "AZS_CLIENT_SECRET")
    values = [value.strip() for name in names if len(value := env.get(name, "").strip()) >= 6]
    return values + [p for p in proxy_passwords(env) if len(p) >= 6]
