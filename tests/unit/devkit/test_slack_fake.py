"""Tests for devkit.slack_fake, driven through the real slack_sdk clients so the fake stays wire-compatible."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from devkit.slack_fake import AppIdentity, FakeSlack, SlackFault, render_message


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_user_id="UBOT", team_id="T0001").start()
    yield fake
    fake.stop()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.api_url, timeout=5)


def test_auth_test_returns_bot_identity(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()
    assert resp["user_id"] == "UBOT"
    assert resp["team_id"] == "T0001"
    assert resp["bot_id"] == "B0001"
    assert fake.api_url == fake.url + "/api/"
    assert [c.method for c in fake.calls()] == ["auth.test"]


def test_posts_carry_the_posting_apps_ids_as_slack_shows_them(fake: FakeSlack, client: WebClient) -> None:
    """An app's message in history has its bot user, ``bot_id``, ``app_id`` and ``bot_profile``; another app's token
    posts as that app, and its ``auth.test`` names that app's bot."""
    other = AppIdentity(app_id="A0OTHER", bot_id="B0OTHER", user_id="UOTHER", name="other")
    fake.add_app("xoxb-other", other)
    marker = {"event_type": "azs_backup_reported", "event_payload": {"job_id": "j1"}}
    client.chat_postMessage(channel="C1", text="mine", metadata=marker)
    theirs = WebClient(token="xoxb-other", base_url=fake.api_url, timeout=5)
    theirs.chat_postMessage(channel="C1", text="theirs", metadata=marker)
    assert theirs.auth_test()["bot_id"] == "B0OTHER" and client.auth_test()["bot_id"] == "B0001"
    newest, oldest = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert (oldest["user"], oldest["bot_id"], oldest["app_id"]) == ("UBOT", "B0001", "A0001")
    assert (newest["user"], newest["bot_id"], newest["app_id"]) == ("UOTHER", "B0OTHER", "A0OTHER")
    assert newest["bot_profile"]["id"] == "B0OTHER" and newest["bot_profile"]["app_id"] == "A0OTHER"
    assert newest["metadata"] == oldest["metadata"] == marker


def test_missing_token_is_not_authed(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=fake.api_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    assert fake.calls("auth.test")[0].response == {"ok": False, "error": "not_authed"}


def test_post_and_update_are_reflected_in_messages(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Backup* running"}}]
    meta = {"event_type": "azs_backup", "event_payload": {"job": "j1"}}
    first = client.chat_postMessage(channel="C1", text="Backup running", blocks=blocks, metadata=meta)
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert abs(float(first["ts"]) - time.time()) < 60  # a unix time, as Slack's are
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["user"] == "UBOT"

    client.chat_update(channel="C1", ts=first["ts"], text="Backup done", blocks=[])
    msgs = fake.messages("C1")
    assert [m["text"] for m in msgs] == ["Backup done", "reply"]
    assert msgs[0]["blocks"] == []
    assert msgs[0]["metadata"] == meta
    assert msgs[0]["user"] == "UBOT"
    assert msgs[1]["thread_ts"] == first["ts"]
    assert fake.messages("C2") == []

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"

    # Thread replies stay out of history; metadata only on request, as in Slack.
    plain = client.conversations_history(channel="C1")["messages"]
    assert [m["ts"] for m in plain] == [first["ts"]]
    assert "metadata" not in plain[0]
    with_meta = client.conversations_history(channel="C1", include_all_metadata=True, limit=1)
    assert with_meta["messages"][0]["metadata"] == meta
    assert client.conversations_history(channel="C1", oldest=first["ts"])["messages"] == []


def test_form_encoded_methods(fake: FakeSlack, client: WebClient) -> None:
    fake.usergroup_members["S1"] = ["U1", "U2"]
    assert client.conversations_open(users=["U9"])["channel"]["id"] == "DU9"
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S404")
    assert err.value.response["error"] == "no_such_subteam"
    assert fake.calls("conversations.open")[0].payload["users"] == "U9"
    fake.socket_url = "ws://127.0.0.1:9/"
    assert client.apps_connections_open(app_token="xapp-1")["url"] == "ws://127.0.0.1:9/"
    assert client.api_call("team.info")["ok"] is True


def test_rate_limit_without_retry_handler_raises(fake: FakeSlack, client: WebClient) -> None:
    fake.inject(SlackFault("chat.postMessage", status=429, retry_after=7))
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "7"
    assert fake.messages() == []
    assert fake.calls("chat.postMessage")[0].response["error"] == "ratelimited"


def test_rate_limit_with_retry_handler_succeeds(fake: FakeSlack) -> None:
    retry = RateLimitErrorRetryHandler(max_retry_count=1)
    client = WebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[retry])
    fake.inject(SlackFault("chat.postMessage", status=429, retry_after=0))
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True
    assert [c.response["ok"] for c in fake.calls("chat.postMessage")] == [False, True]
    assert len(fake.messages("C1")) == 1


def test_error_and_server_faults(fake: FakeSlack, client: WebClient) -> None:
    fake.inject(SlackFault("chat.postMessage", error="channel_not_found"))
    fake.inject(SlackFault("chat.update", status=503))
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C404", text="hi")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.0", text="x")
    assert err.value.response.status_code == 503
    assert fake.messages() == []
    assert client.chat_postMessage(channel="C1", text="ok now")["ok"] is True  # fault consumed


def test_delay_fault_and_wait_for(fake: FakeSlack, client: WebClient) -> None:
    fake.inject(SlackFault("chat.postMessage", delay=0.2))
    worker = threading.Thread(target=client.chat_postMessage, kwargs={"channel": "C1", "text": "later"})
    started = time.monotonic()
    worker.start()
    assert fake.wait_for(lambda f: len(f.messages("C1")) == 1, timeout=3)
    assert time.monotonic() - started >= 0.2
    worker.join()
    assert not fake.wait_for(lambda f: len(f.messages("C1")) == 2, timeout=0.1)
    fake.clear()
    assert fake.calls() == [] and fake.messages() == []


def test_response_url_post_is_recorded(fake: FakeSlack) -> None:
    url = fake.response_url("h1")
    assert url == fake.url + "/hooks/h1"
    resp = WebhookClient(url).send(text="Started", replace_original=True)
    assert (resp.status_code, resp.body) == (200, "ok")
    posts = fake.hook_posts("h1")
    assert len(posts) == 1
    assert posts[0].kind == "response_url"
    assert posts[0].payload == {"text": "Started", "replace_original": True}
    assert fake.hook_posts(fake.response_url().rsplit("/", 1)[1]) == []
    assert fake.calls() == []


def test_stop_frees_port() -> None:
    fake = FakeSlack().start()
    port = fake.port
    fake.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_render_message_with_blocks() -> None:
    msg = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Backup started"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Stamp:* `azs1`"},
                "fields": [{"type": "mrkdwn", "text": "*Job:* j1"}],
            },
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "by <@U1>"}]},
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Cancel"}, "action_id": "c"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Status"}, "action_id": "s"},
                ],
            },
        ],
    }
    out = render_message(msg).splitlines()
    assert out[0] == "Backup started"
    assert "*Stamp:* `azs1`" in out
    assert "*Job:* j1" in out
    assert "-" * 40 in out
    assert "by <@U1>" in out
    assert out[-1] == "[ Cancel ] [ Status ]"
    assert "fallback" not in out
    assert render_message({"text": "plain *text*"}) == "plain *text*"
