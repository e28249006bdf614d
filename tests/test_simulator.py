"""The stamp simulator speaks what real MSAL and the recorded Azure Stack Hub backup API speak."""

import hashlib
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from devkit.simulator import Fault, StampSimulator

BACKUP_PATH = "/resourceGroups/system.local/providers/Microsoft.Backup.Admin/backupLocations/local"
API_VERSION = "2018-09-01"


class VerifyingHttp:
    """MSAL's http_client: verify per request, because REQUESTS_CA_BUNDLE overrides Session.verify."""

    def __init__(self, ca: str) -> None:
        self.ca, self.session = ca, requests.Session()

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.session.get(url, verify=self.ca, timeout=10, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.session.post(url, verify=self.ca, timeout=10, **kw)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("sim"))  # shared: the CA and the RSA client key are made once


@pytest.fixture(params=["adfs", "aad"])
def sim(request: pytest.FixtureRequest, state_dir: str) -> Iterator[StampSimulator]:
    stamp = StampSimulator(identity=request.param, backup_seconds=0.5, state_dir=state_dir)
    stamp.start()
    yield stamp
    stamp.stop()


def msal_token(sim: StampSimulator, credential: Any, suffix: str = "/.default") -> dict[str, Any]:
    http = VerifyingHttp(sim.ca_pem_path)
    meta = http.get(sim.url + "/metadata/endpoints?api-version=2015-01-01").json()["authentication"]
    login = meta["loginEndpoint"].rstrip("/")  # AD FS: ".../adfs"; Azure AD: the host, tenant appended
    authority = login if sim.identity == "adfs" else f"{login}/{sim.tenant_id}"
    app = msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=credential,
        authority=authority,
        instance_discovery=False,
        azure_region=False,
        http_client=http,
    )
    result: dict[str, Any] = app.acquire_token_for_client([meta["audiences"][0] + suffix])
    return result


def arm(
    sim: StampSimulator,
    method: str,
    url: str,
    token: str | None = None,
    *,
    api_version: str | None = API_VERSION,
    **kw: Any,
) -> requests.Response:
    """One ARM request; a path is put under the backup location, and ``api_version`` added unless the URL
    has one (``None``: sent without, as ARM refuses)."""
    if not url.startswith("https://"):
        url = f"{sim.url}/subscriptions/{sim.subscription_id}{BACKUP_PATH}{url}"
    if api_version is not None and "api-version=" not in url:
        url += ("&" if "?" in url else "?") + f"api-version={api_version}"
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kw.pop("headers", {})}
    return requests.request(method, url, headers=headers, verify=sim.ca_pem_path, timeout=10, **kw)


@pytest.fixture
def token(sim: StampSimulator) -> str:
    return str(msal_token(sim, sim.client_secret)["access_token"])


def cert_credential(sim: StampSimulator) -> dict[str, str]:
    pem = Path(sim.client_cert_pem_path).read_text()
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return {"private_key": pem, "thumbprint": hashlib.sha1(der).hexdigest()}


def test_msal_gets_tokens_with_secret_and_certificate(sim: StampSimulator) -> None:
    suffixes = ["/.default", "/openid"] if sim.identity == "adfs" else ["/.default"]
    for credential in (sim.client_secret, cert_credential(sim)):
        for suffix in suffixes:
            result = msal_token(sim, credential, suffix)
            assert result.get("token_type") == "bearer", result
            subs = arm(sim, "GET", sim.url + "/subscriptions?api-version=2016-05-01", result["access_token"])
            assert subs.json()["value"][0]["displayName"] == "Default Provider Subscription"
    assert sim.count("POST", "token") == 2 * len(suffixes)


def test_bad_secret_is_refused_without_echo(sim: StampSimulator) -> None:
    result = msal_token(sim, "not-the-secret-42")
    assert result["error"] == "invalid_client" and "not-the-secret-42" not in str(result)
    assert "access_token" not in msal_token(sim, {**cert_credential(sim), "thumbprint": "00" * 20})


def poll_async(sim: StampSimulator, url: str, token: str) -> dict[str, Any]:
    for _ in range(50):
        body: dict[str, Any] = arm(sim, "GET", url, token).json()
        if body["status"] != "Accepted":
            return body
        time.sleep(0.05)
    raise AssertionError("the backup never finished")


@pytest.mark.parametrize("outcome", ["Succeeded", "PartialSucceeded", "Failed"])
def test_backup_lifecycle(sim: StampSimulator, token: str, outcome: str) -> None:
    sim.outcome = outcome
    started = arm(
        sim, "POST", "/createBackup?api-version=2018-09-01", token, headers={"x-ms-client-request-id": "corr-1"}
    )
    assert started.status_code == 202 and started.content == b"" and started.headers["Retry-After"] == "1"
    assert started.headers["x-ms-correlation-request-id"] == "corr-1"
    backup_id = started.headers["Location"].split("/operationResults/")[1].split("?")[0]
    assert started.headers["Azure-AsyncOperation"] == started.headers["Location"] + "&IsAsyncOperation=1"
    assert sim.running_backup_id() == backup_id
    busy = arm(sim, "POST", "/createBackup", token)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "BackupOperationInProgress"
    assert arm(sim, "GET", started.headers["Location"], token).status_code == 202
    listed = arm(sim, "GET", "/backups", token).json()["value"]
    assert [b["properties"]["backupInfo"]["status"] for b in listed if backup_id in b["id"]] == ["Running"]

    final = poll_async(sim, started.headers["Azure-AsyncOperation"], token)
    assert final["status"] == ("Failed" if outcome == "Failed" else "Succeeded")
    backup = arm(sim, "GET", started.headers["Location"], token).json()
    info = backup["properties"]["backupInfo"]
    assert (backup["name"], info["backupId"], info["status"]) == (f"local/{backup_id}", backup_id, outcome)
    assert len(info["roleStatus"]) == 23 and info["createdDateTime"].endswith("Z")
    assert (info["timeTakenToCreate"] == "PT0S") == (outcome != "Succeeded")
    assert backup_id in sim.finished_at and sim.running_backup_id() is None
    assert arm(sim, "GET", f"/backups/{backup_id}", token).json() == backup
    ids = [b["name"].split("/")[1] for b in arm(sim, "GET", "/backups", token).json()["value"]]
    assert backup_id in ids and ids == sorted(ids) and len(ids) == 4


def test_location_style_and_finish_now(sim: StampSimulator, token: str) -> None:
    sim.lro_style, sim.backup_seconds = "location", 60
    started = arm(sim, "POST", "/createBackup", token)
    assert "Azure-AsyncOperation" not in started.headers
    assert arm(sim, "GET", started.headers["Location"], token).status_code == 202
    sim.finish_running()
    done = arm(sim, "GET", started.headers["Location"], token)
    assert done.status_code == 200 and done.json()["properties"]["backupInfo"]["status"] == "Succeeded"
    assert arm(sim, "GET", "/operationResults/00000000-0000-0000-0000-000000000000", token).status_code == 404


def test_tokens_are_required_and_revocable(sim: StampSimulator, token: str) -> None:
    assert arm(sim, "GET", "/backups").json()["error"]["code"] == "InvalidAuthenticationToken"
    assert arm(sim, "GET", "/backups", token).status_code == 200
    sim.revoke_tokens()
    assert arm(sim, "GET", "/backups", token).status_code == 401
    assert [r.has_bearer for r in sim.requests_log[-3:]] == [False, True, True]


def test_faults(sim: StampSimulator, token: str) -> None:
    sim.inject(Fault(status=429, retry_after="7", path_contains="/backups"))
    throttled = arm(sim, "GET", "/backups", token)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert arm(sim, "GET", "/backups", token).status_code == 200  # consumed
    sim.inject(Fault(status=0, body='{"status":', method="GET"))
    assert arm(sim, "GET", "/backups", token).text == '{"status":'
    sim.inject(Fault(status=503, path_contains="/oauth2/"))
    with pytest.raises(msal.exceptions.MsalServiceError):
        msal_token(sim, sim.client_secret)


def test_not_configured_and_scheduled(sim: StampSimulator, token: str) -> None:
    store = arm(sim, "GET", "", token).json()["properties"]["externalStoreDefault"]
    assert store["path"] and store["encryptionCertThumbprint"] and store["password"] is None
    sim.set_configured(False)
    store = arm(sim, "GET", "", token).json()["properties"]["externalStoreDefault"]
    assert (store["path"], store["encryptionCertThumbprint"], store["nextBackupTime"]) == ("", None, None)
    assert arm(sim, "POST", "/createBackup", token).json()["error"]["code"] == "BackupLocationNotConfigured"
    scheduled = sim.run_scheduled_backup("PartialSucceeded")
    info = arm(sim, "GET", f"/backups/{scheduled}", token).json()["properties"]["backupInfo"]
    assert info["isAutomaticBackup"] and info["status"] == "PartialSucceeded"
    assert store["lastBackupTime"] < info["createdDateTime"]


def test_control_api(sim: StampSimulator) -> None:
    def post(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(sim.url + path, json=body, verify=sim.ca_pem_path, timeout=10)

    assert post("/_sim/config", {"outcome": "Failed", "backup_seconds": 30}).json() == {"ok": True}
    assert post("/_sim/config", {"outcome": "Maybe"}).status_code == 400
    assert post("/_sim/fault", {"status": "500", "path_contains": "createBackup"}).status_code == 200
    new_id = post("/_sim/scheduled", {"outcome": "Succeeded"}).json()["id"]
    state = requests.get(sim.url + "/_sim/state", verify=sim.ca_pem_path, timeout=10).json()
    assert (state["outcome"], state["pending_faults"], state["running"]) == ("Failed", 1, None)
    assert new_id in state["finished_at"] and sim.outcome == "Failed"


def test_main_prints_env_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "devkit.simulator", "--identity", "aad", "--state-dir", str(tmp_path)]
    proc = subprocess.Popen(command, cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        env = dict(shlex.split(proc.stdout.readline())[1].split("=", 1) for _ in range(5))
        assert set(env) == {"AZS_ARM_ENDPOINT", "AZS_CLIENT_ID", "AZS_CLIENT_SECRET", "AZS_CA_BUNDLE", "AZS_TENANT_ID"}
        state = requests.get(env["AZS_ARM_ENDPOINT"] + "/_sim/state", verify=env["AZS_CA_BUNDLE"], timeout=10)
        assert state.json()["identity"] == "aad"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize("build", ["1809", "2002", "2108"])
def test_build_shapes_follow_the_recordings(build: str, state_dir: str) -> None:
    """Headers, api-version, Retry-After (scaled) and body fields as each build's recording has them."""
    sim = StampSimulator(build=build, time_scale=0.1, backup_seconds=60, state_dir=state_dir)
    sim.start()
    try:
        token = str(msal_token(sim, sim.client_secret, "/openid")["access_token"])
        api = "2021-09-01" if build == "2108" else "2018-09-01"  # what the recorded module sent
        started = arm(sim, "POST", "/createBackup", token, api_version=api)
        assert started.status_code == 202 and started.content == b"" and started.headers["Retry-After"] == "6"
        assert started.headers["Location"].endswith(f"?api-version={api}")
        assert ("Azure-AsyncOperation" in started.headers) == (build == "2108")
        poll = arm(sim, "GET", started.headers.get("Azure-AsyncOperation") or started.headers["Location"], token)
        assert poll.headers["Retry-After"] == ("3" if build == "2108" else "6")
        sim.finish_running()
        info = arm(sim, "GET", started.headers["Location"], token).json()["properties"]["backupInfo"]
        assert len(info["roleStatus"]) == (13 if build == "1809" else 1)
        assert ("isAutomaticBackup" in info) == (build != "1809") and (info["oemVersion"] is None) == (build == "1809")
        assert info["stampVersion"] == {"1809": "1.1809.0.45", "2002": "1.2002.0.35", "2108": "1.2108.0.32"}[build]
        assert ("repositoryStatus" in info["roleStatus"][0]) == (build == "2108")
    finally:
        sim.stop()


def test_main_takes_a_build(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "devkit.simulator",
        "--build",
        "1809",
        "--time-scale",
        "0.5",
        "--state-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(command, cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        env = dict(shlex.split(proc.stdout.readline())[1].split("=", 1) for _ in range(4))
        state = requests.get(env["AZS_ARM_ENDPOINT"] + "/_sim/state", verify=env["AZS_CA_BUNDLE"], timeout=10)
        assert state.json()["lro_style"] == "location" and state.json()["build"] == "1809"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


RECORDED_LOCATION = re.compile(
    r"https://[^/]+/subscriptions/{guid}/resourceGroups/system\.(?P<region>\w+)/providers/Microsoft\.Backup\.Admin"
    r"/backupLocations/(?P=region)/operationResults/{guid}\?api-version=(?P<api>[\d-]+)".format(
        guid=r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
    )
)
"""The shape of every ``Location`` in the recordings (tests/fixtures/recordings): 1809, 2002 and 2108."""


def recorded_locations() -> list[str]:
    """Every operation URL a real stamp sent in the recordings the tests carry."""
    text = "".join(p.read_text() for p in (Path(__file__).parent / "fixtures" / "recordings").glob("*.json"))
    return re.findall(r'"(https://[^"]*/operationResults/[^"]*)"', text)


@pytest.mark.parametrize("build", [None, "1809", "2002", "2108"])
def test_operation_urls_are_shaped_as_recorded(build: str | None, state_dir: str) -> None:
    """Same path and query as the stamps wrote them, carrying the api-version the request used."""
    recorded = recorded_locations()
    assert len(recorded) > 20 and all(
        RECORDED_LOCATION.fullmatch(u.replace("\\u0026", "&").split("&")[0]) for u in recorded
    )
    sim = StampSimulator(build=build, time_scale=0.0, backup_seconds=60, state_dir=state_dir)
    sim.start()
    try:
        token = str(msal_token(sim, sim.client_secret, "/openid")["access_token"])
        api = "2021-09-01" if build in (None, "2108") else "2018-09-01"
        started = arm(sim, "POST", "/createBackup", token, api_version=api)
        location = started.headers["Location"]
        match = RECORDED_LOCATION.fullmatch(location)
        assert match and match["api"] == api and location.startswith(sim.url), location
        if "Azure-AsyncOperation" in started.headers:
            assert started.headers["Azure-AsyncOperation"] == location + "&IsAsyncOperation=1"
        polled = arm(sim, "GET", location, token)
        assert polled.status_code == 202 and polled.headers["Location"] == location
    finally:
        sim.stop()


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return response.status_code, str(body["error"]["code"])


def test_a_request_without_api_version_is_refused_as_arm_refuses_it(sim: StampSimulator, token: str) -> None:
    backup_id = sim.run_scheduled_backup()
    refused = [
        arm(sim, "GET", f"/backups/{backup_id}", token, api_version=None),
        arm(sim, "GET", f"/operationResults/{backup_id}", token, api_version=None),
        arm(sim, "GET", "/backups", token, api_version=None),
        arm(sim, "GET", "", token, api_version=None),
        arm(sim, "POST", "/createBackup", token, api_version=None),
        arm(sim, "GET", f"{sim.url}/subscriptions", token, api_version=None),
        arm(sim, "GET", f"/backups/{backup_id}?api-version=", token, api_version=None),
    ]
    for response in refused:
        assert error_of(response) == (400, "MissingApiVersionParameter"), response.request.url
        assert "api-version" in response.json()["error"]["message"]
    assert sim.running_backup_id() is None  # the refused createBackup started nothing
    assert arm(sim, "GET", f"/backups/{backup_id}", token).status_code == 200


def test_an_unknown_api_version_is_refused(sim: StampSimulator, token: str) -> None:
    backup_id = sim.run_scheduled_backup()
    for path in (f"/backups/{backup_id}", "/backups", "", f"/operationResults/{backup_id}"):
        refused = arm(sim, "GET", path, token, api_version="2099-01-01")
        assert error_of(refused) == (400, "NoRegisteredProviderFound")
        assert "2018-09-01" in refused.json()["error"]["message"]
    subscriptions = arm(sim, "GET", f"{sim.url}/subscriptions", token, api_version="2018-09-01")
    assert error_of(subscriptions) == (400, "InvalidApiVersionParameter")
    assert arm(sim, "GET", f"{sim.url}/subscriptions", token, api_version="2016-05-01").status_code == 200
    sim.configure({"api_versions": ["2016-05-01"]})  # the accepted versions are a setting
    assert error_of(arm(sim, "GET", "/backups", token))[1] == "NoRegisteredProviderFound"
    assert arm(sim, "GET", "/backups", token, api_version="2016-05-01").status_code == 200
    with pytest.raises(ValueError, match="api_versions"):
        sim.configure({"api_versions": []})


def test_older_builds_do_not_serve_the_2021_preview(state_dir: str) -> None:
    assert StampSimulator(build="2002", state_dir=state_dir).api_versions == ("2016-05-01", "2018-09-01")
    assert "2021-09-01" in StampSimulator(build="2108", state_dir=state_dir).api_versions


def test_an_unknown_path_is_a_404_with_arms_error_body(sim: StampSimulator, token: str) -> None:
    location = f"{sim.url}/subscriptions/{sim.subscription_id}/resourceGroups/system.local"
    provider = "/providers/Microsoft.Backup.Admin/backupLocations"
    cases = {
        "/restore": "InvalidResourceType",
        "/backups/x/restore": "InvalidResourceType",
        "/operationStatuses/x": "InvalidResourceType",
        "/backups/00000000-0000-0000-0000-000000000000": "ResourceNotFound",
        f"{location}{provider}/elsewhere": "ResourceNotFound",
        f"{sim.url}/subscriptions/{sim.subscription_id}/resourceGroups/other{provider}/local": "ResourceGroupNotFound",
        f"{sim.url}/subscriptions/00000000-0000-0000-0000-000000000000/locations": "SubscriptionNotFound",
        f"{sim.url}/subscriptions/{sim.subscription_id}/nothing": "ResourceNotFound",
        f"{sim.url}/providers/Microsoft.Backup.Admin/operations": "ResourceNotFound",
    }
    for path, code in cases.items():
        assert error_of(arm(sim, "GET", path, token)) == (404, code), path


def test_a_method_the_resource_does_not_have_is_refused(sim: StampSimulator, token: str) -> None:
    backup_id = sim.run_scheduled_backup()
    for method, path, allowed in (
        ("DELETE", f"/backups/{backup_id}", "GET"),
        ("PUT", f"/backups/{backup_id}", "GET"),
        ("POST", "/backups", "GET"),
        ("GET", "/createBackup", "POST"),
        ("DELETE", f"/operationResults/{backup_id}", "GET"),
        ("PATCH", "", "GET"),
    ):
        refused = arm(sim, method, path, token)
        assert error_of(refused) == (405, "MethodNotAllowed") and refused.headers["Allow"] == allowed, (method, path)
    assert sim.running_backup_id() is None and arm(sim, "GET", f"/backups/{backup_id}", token).status_code == 200


def test_operation_urls_can_name_another_origin(sim: StampSimulator, token: str) -> None:
    """An alias for the stamp (or a hostile one) in the URLs it hands out; the stamp itself is unchanged."""
    sim.configure({"operation_origin": "https://alias.example:8443"})
    started = arm(sim, "POST", "/createBackup", token)
    assert started.headers["Location"].startswith("https://alias.example:8443/subscriptions/")
    assert started.headers["Azure-AsyncOperation"].startswith("https://alias.example:8443/subscriptions/")
    assert sim.state()["operation_origin"] == "https://alias.example:8443"


def test_a_fault_can_redirect(sim: StampSimulator, token: str) -> None:
    sim.inject(Fault(status=302, path_contains="/backups", headers={"Location": "https://elsewhere.example/x"}))
    redirected = arm(sim, "GET", "/backups", token, allow_redirects=False)
    assert (redirected.status_code, redirected.headers["Location"]) == (302, "https://elsewhere.example/x")
