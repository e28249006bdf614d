"""The fake Slack's file uploads: Slack's current flow (what slack_sdk's ``files_upload_v2`` does), kept so tests
can read every uploaded file back.

1. ``files.getUploadURLExternal`` (``filename``, ``length``; needs ``files:write``) answers an ``upload_url`` and
   a ``file_id``;
2. the client POSTs the file's bytes to that URL (no token: the URL is the credential);
3. ``files.completeUploadExternal`` (``files``: a JSON list of ``{"id", "title"}``, ``channel_id``,
   ``initial_comment``, ``thread_ts``) shares the files in the channel as one message.

The legacy ``files.upload`` is refused (``method_deprecated``), as Slack does for apps created since May 2024.
Completing a file whose bytes never arrived, or arrived with another length than announced, is refused.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class UploadedFile:
    """One file as the fake received it; ``channel`` and ``initial_comment`` are set once it is shared."""

    file_id: str
    name: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content or b"").hexdigest()

    @property
    def shared(self) -> bool:
        return self.channel is not None


class FileUploads:
    """The upload state of one fake Slack (the caller holds the fake's lock)."""

    def __init__(self) -> None:
        self.files: dict[str, UploadedFile] = {}

    def get_upload_url(self, p: dict[str, Any], base_url: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        if "files:write" not in scopes:
            return {"ok": False, "error": "missing_scope", "needed": "files:write"}
        name, length = str(p.get("filename") or ""), str(p.get("length") or "")
        if not name or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        self.files[file_id] = UploadedFile(file_id, name, int(length))
        return {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}

    def receive(self, file_id: str, body: bytes) -> tuple[int, bytes]:
        """Step 2: the bytes POSTed to the upload URL."""
        found = self.files.get(file_id)
        if found is None:
            return 404, b"not_found"
        found.content = body
        return 200, f"OK - {len(body)}".encode()

    def complete(self, p: dict[str, Any]) -> tuple[dict[str, Any], list[UploadedFile]]:
        """Step 3: the answer, and the files to share in ``channel_id`` (none when refused)."""
        try:
            wanted = json.loads(str(p.get("files") or ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}, []
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}, []
        chosen = []
        for item in wanted:
            found = self.files.get(str(item.get("id") if isinstance(item, dict) else ""))
            if found is None or found.content is None or len(found.content) != found.length or found.shared:
                return {"ok": False, "error": "file_not_found"}, []
            chosen.append((found, str(item.get("title") or found.name)))
        for found, title in chosen:
            found.title = title
        files = [found for found, _ in chosen]
        return {"ok": True, "files": [public(f) for f in files]}, files


def public(file: UploadedFile) -> dict[str, Any]:
    """A file object as Slack's answers carry one (the fields the bot and tests read)."""
    return {"id": file.file_id, "name": file.name, "title": file.title or file.name, "size": file.length}
