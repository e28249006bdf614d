"""The stamp client against the TLS simulator: both identity providers, both credentials, failures."""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import trustme

from bot.config.env import SettingsError
from bot.config.stamps import load_stamp, load_stamps_file
from bot.stamp import lro
from bot.stamp.arm import ArmClient, StartedBackup
from bot.stamp.auth import VerifyingSession
from bot.stamp.errors import MissingPermission, StampError
from bot.stamp.urls import NO_ORIGIN, origin_of, parse_operation_url
from bot.state.job import Job
from devkit.simulator import Fault, StampSimulator


@pytest.fixture(scope="module")
def aad_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampSimulator]:
    simulator = StampSimulator(
        identity="aad", backup_seconds=0.3, retry_after=0, state_dir=str(tmp_path_factory.mktemp("aad"))
    )
    simulator.start()
    yield simulator
    simulator.stop()


def client_for(sim: StampSimulator, *, use_cert: bool = False) -> ArmClient:
    stamp = load_stamp(sim.env(use_cert=use_cert))
    return ArmClient(stamp, max_attempts=3, max_backoff=0.2)


@pytest.mark.parametrize("use_cert", [False, True])
def test_adfs_and_aad_stamps_with_secret_or_certificate(
    stamp: StampSimulator, aad_sim: StampSimulator, use_cert: bool
) -> None:
    for sim in (stamp, aad_sim):
        client = client_for(sim, use_cert=use_cert)
        assert client.region == "local"
        assert client.backup_location().is_configured
        assert client.list_backups()


def test_aad_stamp_without_tenant_is_a_clear_error(aad_sim: StampSimulator) -> None:
    env = {k: v for k, v in aad_sim.env().items() if k != "AZS_TENANT_ID"}
    with pytest.raises(StampError, match="AZS_TENANT_ID"):
        ArmClient(load_stamp(env)).list_backups()


def test_ca_bundle_is_honoured_even_when_requests_ca_bundle_is_set(
    stamp: StampSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nonexistent/bundle.pem")
    assert client_for(stamp).list_backups()


def test_token_is_cached_and_refreshed_once_after_a_401(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    client.list_backups()
    client.list_backups()
    assert stamp.count("POST", "oauth2/token") >= 1
    tokens_before = stamp.count("POST", "oauth2/token")
    client.list_backups()
    assert stamp.count("POST", "oauth2/token") == tokens_before
    stamp.revoke_tokens()
    assert client.list_backups()
    assert stamp.count("POST", "oauth2/token") == tokens_before + 1


def test_forbidden_names_the_missing_permission(stamp: StampSimulator) -> None:
    stamp.inject(Fault(status=403, times=1, path_contains="backupLocations"))
    with pytest.raises(StampError, match=r"createBackup/action") as caught:
        client_for(stamp).backup_location()
    assert caught.value.status == 403 and not caught.value.retryable


def test_throttling_and_server_errors_are_retried_with_retry_after(stamp: StampSimulator) -> None:
    stamp.inject(Fault(status=429, retry_after="0", times=1, path_contains="backups"))
    stamp.inject(Fault(status=503, times=1, path_contains="backups"))
    assert client_for(stamp).list_backups()


def test_identity_provider_down_is_a_clear_error(stamp: StampSimulator) -> None:
    stamp.inject(Fault(status=503, times=20, path_contains="oauth2/token"))
    with pytest.raises(StampError, match="identity provider"):
        client_for(stamp).list_backups()


def test_bearer_token_never_goes_to_another_host(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    operation = f"{stamp._prefix()}/operationResults/{uuid.uuid4()}?api-version=2018-09-01"
    client.list_backups()  # discovery and the token first, so only the refused poll could add a request
    seen = len(stamp.requests_log)
    for foreign in (
        stamp.url.replace("127.0.0.1", "localhost") + operation,
        stamp.url.replace("https://", "https://attacker.example\\@") + operation,
        stamp.url.replace("https://", "https://attacker.example@") + operation,
        stamp.url + operation.replace(stamp.subscription_id, str(uuid.uuid4())),  # another subscription
        stamp.url + operation.replace("backupLocations/local", "backupLocations/other"),
    ):
        with pytest.raises(StampError, match="refusing to send credentials") as caught:
            client.poll(foreign)
        assert caught.value.code == "ForeignHost"
    assert len(stamp.requests_log) == seen


def test_an_operation_url_is_rebuilt_on_the_configured_endpoint(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    started = client.start_backup()
    assert started.async_url and started.location_url
    path = (
        f"/subscriptions/{stamp.subscription_id}/resourceGroups/System.local/providers/Microsoft.Backup.Admin"
        f"/backupLocations/local/operationResults/{started.backup_id}"
    )
    assert client.follow_url(started.async_url) == f"{stamp.url}{path}?api-version=2018-09-01&IsAsyncOperation=1"
    assert client.follow_url(started.location_url) == f"{stamp.url}{path}?api-version=2018-09-01"
    shouting = stamp.url.upper().replace("HTTPS", "https") + path.upper()
    assert client.follow_url(shouting) == f"{stamp.url}{path}?api-version=2018-09-01"  # same origin, any case
    bare = stamp.url + path  # an operation URL without api-version gets the configured one
    assert client.follow_url(bare) == f"{stamp.url}{path}?api-version=2018-09-01"
    assert client.poll(bare).status in (200, 202)


OPERATION = (
    "/subscriptions/0004fee6-aec7-40be-8b4e-197a7eca2e0f/resourceGroups/system.local/providers/Microsoft.Backup.Admin"
    "/backupLocations/local/operationResults/1448f65a-cc19-4976-85f8-7d950f4d42f0"
)
ENDPOINT = "https://adminmanagement.local.azurestack.external"
FOLLOWED = [
    f"{ENDPOINT}{OPERATION}?api-version=2018-09-01",
    f"{ENDPOINT}{OPERATION}?api-version=2021-09-01&IsAsyncOperation=1",
    f"https://AdminManagement.Local.AzureStack.External:443{OPERATION}?API-Version=2018-09-01",
    f"{ENDPOINT}.{OPERATION}",
    f"{ENDPOINT}{OPERATION.replace('operationResults', 'operationStatus')}?api-version=2018-09-01",
    f"{ENDPOINT}{OPERATION.replace('operationResults', 'backups')}?api-version=2018-09-01",
]
REFUSED = {
    "backslash before @": f"https://attacker.example\\@adminmanagement.local.azurestack.external{OPERATION}",
    "backslash, port": f"https://attacker.example:443\\@adminmanagement.local.azurestack.external{OPERATION}",
    "backslash in the path": ENDPOINT + OPERATION.replace("/operationResults/", "/operationResults" + chr(92)),
    "userinfo": f"https://attacker.example@adminmanagement.local.azurestack.external{OPERATION}",
    "userinfo and password": f"https://u:p@adminmanagement.local.azurestack.external{OPERATION}",
    "http": f"http://adminmanagement.local.azurestack.external{OPERATION}",
    "http backslash": f"http://attacker.example\\@adminmanagement.local.azurestack.external{OPERATION}",
    "another host": f"https://attacker.example{OPERATION}",
    "another port": f"{ENDPOINT}:8443{OPERATION}",
    "a look-alike host": f"https://adminmanagement.local.azurestack.externa\u04cf{OPERATION}",
    "space": f"{ENDPOINT}{OPERATION}?api-version=2018-09-01 ",
    "tab before @": f"https://attacker.example\t@adminmanagement.local.azurestack.external{OPERATION}",
    "line break": f"{ENDPOINT}{OPERATION}?api-version=2018-09-01\r\nX-Injected: 1",
    "NUL": f"{ENDPOINT}\x00.attacker.example{OPERATION}",
    "escaped slash": f"{ENDPOINT}{OPERATION.replace('/operationResults/', '/operationResults%2F')}",
    "escaped host": f"https://adminmanagement%2Elocal.azurestack.external{OPERATION}",
    "escaped @": f"https://attacker.example%40adminmanagement.local.azurestack.external{OPERATION}",
    "escaped query": f"{ENDPOINT}{OPERATION}?api-version=2018%2D09-01",
    "fragment": f"{ENDPOINT}{OPERATION}#fragment",
    "dot segment": f"{ENDPOINT}{OPERATION.replace('/providers/', '/../providers/')}",
    "dot resource group": f"{ENDPOINT}{OPERATION.replace('system.local', '..')}",
    "another provider": f"{ENDPOINT}{OPERATION.replace('Microsoft.Backup.Admin', 'Microsoft.Evil')}",
    "not a GUID": f"{ENDPOINT}{OPERATION[:-36]}restore",
    "a longer path": f"{ENDPOINT}{OPERATION}/restore",
    "another query key": f"{ENDPOINT}{OPERATION}?api-version=2018-09-01&$expand=x",
    "api-version twice": f"{ENDPOINT}{OPERATION}?api-version=2018-09-01&api-version=2021-09-01",
    "a semicolon": f"{ENDPOINT}{OPERATION};x",
    "relative": OPERATION,
    "scheme-relative": f"//adminmanagement.local.azurestack.external{OPERATION}",
    "empty": "",
}


@pytest.mark.parametrize("url", FOLLOWED)
def test_operation_urls_as_stamps_write_them_are_followed(url: str) -> None:
    ref = parse_operation_url(url, origin_of(ENDPOINT))
    assert ref is not None and ref.operation_id == "1448f65a-cc19-4976-85f8-7d950f4d42f0"


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_operation_urls_that_parsers_could_read_differently_are_refused(url: str) -> None:
    assert parse_operation_url(url, origin_of(ENDPOINT)) is None


def answer(started: StartedBackup) -> Job:
    """The job as the web records ``createBackup``'s answer (``BackupService._record_started``)."""
    poll_url = started.async_url or started.location_url or ""
    job = Job(job_id="j", stamp="s", requester="U1", channel="C1", backup_id=started.backup_id, poll_url=poll_url)
    job.location_url = started.location_url or ""
    return job


def test_start_returns_the_operation_guid_as_backup_id(stamp: StampSimulator) -> None:
    started = client_for(stamp).start_backup()
    assert started.backup_id == stamp.running_backup_id()
    assert started.async_url and started.location_url and started.location_url.split("?")[0].endswith(started.backup_id)
    assert lro.select(answer(started)).name == "async"
    stamp.lro_style = "location"
    stamp.finish_running()
    started = client_for(stamp).start_backup()
    assert started.async_url is None and lro.select(answer(started)).name == "location"


def test_a_second_start_is_refused_by_the_stamp(stamp: StampSimulator) -> None:
    stamp.backup_seconds = 30
    client = client_for(stamp)
    client.start_backup()
    with pytest.raises(StampError) as caught:
        client.start_backup()
    assert caught.value.status == 409


def test_settings_carry_no_secret_in_repr(stamp: StampSimulator) -> None:
    settings = load_stamp(stamp.env())
    assert settings.client_secret and settings.client_secret not in repr(settings)
    assert dataclasses.replace(settings, client_secret=None).client_secret is None


def test_proxy_settings_are_read_from_the_environment(stamp: StampSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(StampError, match="ProxyError"):
        client_for(stamp).list_backups()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert client_for(stamp).list_backups()


class _Hello(BaseHTTPRequestHandler):
    """Says ``ok``, or redirects to the server's ``redirect_to``; remembers what it was asked."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hello.seen.append((self.command, self.path))
        target = getattr(self.server, "redirect_to", None)
        self.send_response(307 if target else 200)
        if target:
            self.send_header("Location", target)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextlib.contextmanager
def tls_server(ca: trustme.CA, redirect_to: str | None = None) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate ``ca`` signed."""
    _Hello.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.redirect_to = redirect_to  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_ca_bundle_is_added_to_the_system_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Azure AD stamp: ARM under the stamp's own root (AZS_CA_BUNDLE), login under a root only the
    system store has (here the system store is SSL_CERT_FILE, as Python's ssl reads it)."""
    stamp_ca, public_ca = trustme.CA(), trustme.CA()
    bundle, system = tmp_path / "stamp-ca.pem", tmp_path / "system.pem"
    stamp_ca.cert_pem.write_to_path(str(bundle))
    public_ca.cert_pem.write_to_path(str(system))
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    with tls_server(stamp_ca) as arm, tls_server(public_ca) as login:
        session = VerifyingSession(verify=str(bundle))
        assert session.get(arm).text == "ok"
        assert session.get(login).text == "ok"
        assert VerifyingSession().get(login).text == "ok"  # no bundle: the system store still counts
        with pytest.raises(requests.exceptions.SSLError):
            VerifyingSession().get(arm)  # and the stamp's root is trusted only where configured


def test_origins_compare_normalised() -> None:
    assert origin_of("https://AdminManagement.Local.AzureStack.External:443/x") == origin_of(
        "https://adminmanagement.local.azurestack.external./y?z"
    )
    assert origin_of("https://stamp.example:8443/") != origin_of("https://stamp.example/")
    assert origin_of("https://10.0.0.5/") != origin_of("https://stamp.example/")
    assert origin_of("http://stamp.example/") != origin_of("https://stamp.example/")
    # The standard library reads the stamp, urllib3 (which sends) the attacker: no origin at all.
    assert origin_of("https://attacker.example\\@stamp.example/") == NO_ORIGIN
    assert origin_of("https://stamp.example:99999/") == NO_ORIGIN


def test_no_redirect_is_followed_with_a_credential(tmp_path: Path) -> None:
    """A 307 would make requests re-send MSAL's POST (the client secret) to wherever it points."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with tls_server(ca) as elsewhere, tls_server(ca, redirect_to=elsewhere) as login:
        answer = VerifyingSession(verify=str(bundle)).post(login, data={"client_secret": "s3cret"})
        assert answer.status_code == 307 and answer.headers["Location"] == elsewhere
        assert _Hello.seen == [("POST", "/")]  # the redirecting server only


# ---- the update location (Microsoft.Update.Admin)


def update_reads(sim: StampSimulator) -> list[str]:
    return [r.path for r in sim.requests_log if "microsoft.update.admin" in r.path.lower()]


@pytest.mark.parametrize("version", ["2021-07-01", "2016-05-01"])
def test_the_update_location_is_read_with_the_stamps_update_api_version(stamp: StampSimulator, version: str) -> None:
    before = len(update_reads(stamp))
    client = ArmClient(load_stamp({**stamp.env(), "AZS_UPDATE_API_VERSION": version}), max_attempts=2)
    location = client.update_location()
    assert (location.name, location.state, location.current_version) == (
        "local",
        "AppliedSuccessfully",
        stamp.stamp_version,
    )
    sent = update_reads(stamp)[before:]
    assert sent == [
        f"/subscriptions/{stamp.subscription_id}/resourceGroups/System.local/providers/Microsoft.Update.Admin"
        f"/updateLocations/local?api-version={version}"
    ]


def test_the_default_update_api_version_is_the_2022_recordings() -> None:
    assert (
        load_stamp(
            {"AZS_ARM_ENDPOINT": "https://a.example", "AZS_CLIENT_ID": "c", "AZS_CLIENT_SECRET": "s"}
        ).update_api_version
        == "2021-07-01"
    )


def test_a_missing_update_permission_is_recognisable_and_not_retried(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    client.region  # noqa: B018  # discover the scope first, so only the update read is counted
    before = len(update_reads(stamp))
    stamp.deny_update_read()
    try:
        with pytest.raises(MissingPermission) as caught:
            client.update_location()
    finally:
        stamp.deny_update_read(False)
    denied = caught.value
    assert isinstance(denied, StampError) and denied.status == 403 and not denied.retryable
    assert (denied.code, denied.permission) == ("AuthorizationFailed", "Microsoft.Update.Admin/updateLocations/read")
    assert "Microsoft.Update.Admin/updateLocations/read" in str(denied) and "[HTTP 403]" in str(denied)
    assert stamp.client_id not in str(denied)  # the stamp's own message (naming the client) is not repeated
    assert len(update_reads(stamp)) == before + 1


def test_other_update_read_errors_stay_ordinary(stamp: StampSimulator) -> None:
    stamp.inject(Fault(status=404, times=1, path_contains="updateLocations"))
    with pytest.raises(StampError) as caught:
        client_for(stamp).update_location()
    assert not isinstance(caught.value, MissingPermission) and caught.value.status == 404


@pytest.mark.parametrize("value", ["2021-07", "latest", "2021-07-01&x=1", "2021-07-01/../x"])
def test_a_malformed_update_api_version_is_refused_by_name(value: str) -> None:
    env = {"AZS_ARM_ENDPOINT": "https://a.example", "AZS_CLIENT_ID": "c", "AZS_CLIENT_SECRET": "s"}
    assert load_stamp({**env, "AZS_UPDATE_API_VERSION": " 2016-05-01 "}).update_api_version == "2016-05-01"
    with pytest.raises(SettingsError, match=r"^AZS_UPDATE_API_VERSION"):
        load_stamp({**env, "AZS_UPDATE_API_VERSION": value})


def test_the_stamps_file_takes_an_update_api_version(tmp_path: Path) -> None:
    path = tmp_path / "stamps.toml"
    stamp = '[[stamp]]\nname = "east"\narm_endpoint = "https://a.example"\nclient_id = "c"\nclient_secret = "s"\n'
    path.write_text(stamp + 'update_api_version = "2016-05-01"\n')
    assert load_stamps_file(str(path))[0].update_api_version == "2016-05-01"
    path.write_text(stamp + 'update_api_version = "soon"\n')
    with pytest.raises(SettingsError, match="update_api_version"):
        load_stamps_file(str(path))
