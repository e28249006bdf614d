"""Looking for an earlier post follows Slack's cursor paging (slack_sdk's SlackResponse iteration), within bounds,
and counts only the bot's own posts (``bot_id`` from ``auth.test``, asked once).

The devkit's Slack stand-in answers history in one page, so these tests serve ``conversations.history``
from a small local HTTP server that pages like Slack (``response_metadata.next_cursor``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient

from bot.slack.client import MAX_HISTORY_PAGES, PostFailed, SlackPoster

OWN_BOT = "B0OWN"


class PagedHistory:
    """``pages`` of messages, newest page first; ``fail_at`` answers that page (1-based) with ``error``."""

    def __init__(
        self, pages: list[list[dict[str, Any]]], fail_at: int | None = None, error: str = "", auth_error: str = ""
    ) -> None:
        self.pages, self.fail_at, self.error, self.auth_error = pages, fail_at, error, auth_error
        self.cursors: list[str] = []
        self.auth_tests = 0

    def identity(self) -> dict[str, Any]:
        self.auth_tests += 1
        if self.auth_error:
            return {"ok": False, "error": self.auth_error}
        return {"ok": True, "user_id": "UOWNBOT", "bot_id": OWN_BOT, "team_id": "T1"}

    def answer(self, cursor: str) -> dict[str, Any]:
        self.cursors.append(cursor)
        index = int(cursor.removeprefix("page-") or 1) - 1
        if self.fail_at == index + 1:
            return {"ok": False, "error": self.error}
        more = index + 1 < len(self.pages)
        return {
            "ok": True,
            "messages": self.pages[index],
            "has_more": more,
            "response_metadata": {"next_cursor": f"page-{index + 2}" if more else ""},
        }


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(history: PagedHistory) -> SlackPoster:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = {k: v[0] for k, v in parse_qs(body).items()}
                if self.path.endswith("/auth.test"):
                    payload = json.dumps(history.identity()).encode()
                else:
                    assert self.path.endswith("/conversations.history")
                    payload = json.dumps(history.answer(params.get("cursor", ""))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        client = WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{server.server_port}/api/", timeout=5)
        return SlackPoster(client)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def marked(ts: str, job_id: str, bot_id: str = OWN_BOT) -> dict[str, Any]:
    return {
        "type": "message",
        "ts": ts,
        "text": "x",
        "bot_id": bot_id,
        "app_id": "A0OWN" if bot_id == OWN_BOT else "A0OTHER",
        "metadata": {"event_type": "azs_backup_reported", "event_payload": {"job_id": job_id}},
    }


def test_the_marker_is_found_on_a_later_page(serve: Any) -> None:
    history = PagedHistory(
        [[marked("3.0", "other")], [{"type": "message", "ts": "2.0", "text": "y"}], [marked("1.0", "job-1")]]
    )
    poster = serve(history)
    assert poster.find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest=None) == "1.0"
    assert history.cursors == ["", "page-2", "page-3"]


def test_paging_stops_at_the_last_page_and_at_the_bound(serve: Any) -> None:
    short = PagedHistory([[marked("2.0", "other")], [marked("1.0", "other")]])
    assert serve(short).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest="0") is None
    assert short.cursors == ["", "page-2"]
    endless = PagedHistory([[marked(f"{n}.0", "other")] for n in range(MAX_HISTORY_PAGES + 5)])
    assert serve(endless).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest="0") is None
    assert len(endless.cursors) == MAX_HISTORY_PAGES


def test_a_later_page_slack_cannot_serve_now_is_an_error_not_a_miss(serve: Any) -> None:
    """Posting blind after a failed read could double a message: the caller must try again later."""
    failing = PagedHistory([[marked("2.0", "other")], [marked("1.0", "job-1")]], fail_at=2, error="internal_error")
    with pytest.raises(PostFailed, match="history: internal_error"):
        serve(failing).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest="0")
    unreadable = PagedHistory([[marked("2.0", "other")], []], fail_at=2, error="missing_scope")
    assert serve(unreadable).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest="0") is None


def test_only_the_bots_own_post_counts(serve: Any) -> None:
    """Any app may post any metadata: another app's copy of the marker is not the bot's post (issue 17, finding 8)."""
    history = PagedHistory([[marked("3.0", "job-1", bot_id="B0OTHER")], [marked("1.0", "job-1")]])
    poster = serve(history)
    assert poster.find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest=None) == "1.0"
    copies = PagedHistory([[marked("3.0", "job-1", bot_id="B0OTHER"), {**marked("2.0", "job-1"), "bot_id": None}]])
    assert serve(copies).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest=None) is None
    assert poster.find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest=None) == "1.0"
    assert history.auth_tests == 1  # asked once per process, then cached


def test_without_knowing_its_own_id_the_bot_does_not_guess(serve: Any) -> None:
    """auth.test failing is "cannot tell now": the caller tries again later instead of posting blind."""
    history = PagedHistory([[marked("1.0", "job-1")]], auth_error="internal_error")
    with pytest.raises(PostFailed, match=r"auth\.test"):
        serve(history).find_marked("C1", "azs_backup_reported", "job_id", "job-1", oldest=None)
    assert history.cursors == []
