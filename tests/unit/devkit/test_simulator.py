"""The stamp simulator speaks what real MSAL and the recorded Azure Stack Hub backup API speak."""

import hashlib
import json
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

from bot.model.backup import Backup, Outcome
from devkit.localrun import wait_until
from devkit.simulator import Fault, StampSimulator
from tests.harness import FIXTURES, ROOT

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
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
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
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
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
    text = "".join(p.read_text() for p in (FIXTURES / "recordings").glob("*.json"))
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


# ---- the update API (Microsoft.Update.Admin), from the recorded sessions in tests/fixtures/recordings/update-admin

UPDATE_PATH = "/resourceGroups/System.local/providers/Microsoft.Update.Admin/updateLocations"
UPDATES = FIXTURES / "recordings" / "update-admin"
NEXT = "1.2206.0.12"


def recorded_2018(file: str, entry: int) -> Any:
    return json.loads(json.loads((UPDATES / file).read_text())["Entries"][entry]["ResponseBody"])


def recorded_2022(file: str, index: int = 0) -> Any:
    return json.loads(list(json.loads((UPDATES / file).read_text()).values())[index]["Response"]["Content"])


@pytest.fixture
def usim(state_dir: str) -> Iterator[StampSimulator]:
    """A fresh stamp per test: update state is not reset between tests."""
    stamp = StampSimulator(backup_seconds=0.5, retry_after=0, state_dir=state_dir)
    stamp.start()
    yield stamp
    stamp.stop()


@pytest.fixture
def utoken(usim: StampSimulator) -> str:
    return str(msal_token(usim, usim.client_secret)["access_token"])


def update_arm(
    sim: StampSimulator,
    token: str | None,
    rest: str = "/local",
    version: str | None = "2021-07-01",
    method: str = "GET",
) -> requests.Response:
    url = f"{sim.url}/subscriptions/{sim.subscription_id}{UPDATE_PATH}{rest}"
    return arm(sim, method, url, token, api_version=version)


def location_props(sim: StampSimulator, token: str, version: str = "2021-07-01") -> dict[str, Any]:
    response = update_arm(sim, token, version=version)
    assert response.status_code == 200, response.text
    return dict(response.json()["properties"])


def test_the_update_location_is_shaped_as_recorded(usim: StampSimulator, utoken: str) -> None:
    recorded = recorded_2022("2022_Get-AzsUpdateLocation.Recording.json")
    served = update_arm(usim, utoken).json()
    assert set(served) == set(recorded) and set(served["properties"]) == set(recorded["properties"])
    assert served["type"] == recorded["type"] and served["name"] == "local"
    assert served["id"] == f"/subscriptions/{usim.subscription_id}{UPDATE_PATH}/local"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", served["properties"]["lastChecked"]
    )  # no offset, as recorded
    assert served["properties"]["state"] == "AppliedSuccessfully"
    old = update_arm(usim, utoken, version="2016-05-01").json()
    recorded_old = recorded_2018("2018_TestGetUpdateLocation.json", 1)
    assert set(old["properties"]) | {"lastUpdated"} == set(recorded_old["properties"])  # no update applied here yet
    assert "/resourcegroups/" in old["id"]  # the 2018 single GET spelled it so
    listed = update_arm(usim, utoken, "/", version="2016-05-01").json()["value"]
    assert [x["name"] for x in listed] == ["local"] and "/resourceGroups/" in listed[0]["id"]


def test_update_paths_are_matched_without_case(usim: StampSimulator, utoken: str) -> None:
    base = f"{usim.url}/subscriptions/{usim.subscription_id}"
    for path in (
        "/resourcegroups/System.local/providers/Microsoft.Update.Admin/updateLocations/local",
        "/resourceGroups/system.LOCAL/providers/microsoft.update.admin/UPDATELOCATIONS/Local",
        "/resourcegroups/System.local/providers/Microsoft.Update.Admin/updateLocations/",
    ):
        assert arm(usim, "GET", base + path, utoken, api_version="2016-05-01").status_code == 200, path


def test_update_reads_are_as_strict_as_arm(usim: StampSimulator, utoken: str) -> None:
    usim.start_update(NEXT)
    assert error_of(update_arm(usim, utoken, version=None)) == (400, "MissingApiVersionParameter")
    refused = update_arm(usim, utoken, version="2018-09-01")
    assert error_of(refused) == (400, "NoRegisteredProviderFound")
    assert "'2016-05-01, 2021-07-01'" in refused.json()["error"]["message"]
    assert error_of(update_arm(usim, None)) == (401, "InvalidAuthenticationToken")
    assert error_of(update_arm(usim, utoken, "/elsewhere")) == (404, "ResourceNotFound")
    other_group = arm(
        usim,
        "GET",
        f"{usim.url}/subscriptions/{usim.subscription_id}/resourceGroups/System.x"
        "/providers/Microsoft.Update.Admin/updateLocations/local",
        utoken,
        api_version="2021-07-01",
    )
    assert error_of(other_group) == (404, "ResourceGroupNotFound")
    # The bot never prepares, applies or reruns an update: those are unknown here, as the restore is.
    applied = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}/apply", method="POST")
    assert error_of(applied) == (404, "InvalidResourceType")
    put = update_arm(usim, utoken, method="PUT")
    assert error_of(put) == (405, "MethodNotAllowed") and put.headers["Allow"] == "GET"
    # As recorded: an unknown update, or the region-prefixed name put into the path, is a 404 with no body.
    for rest in (
        "/local/updates/Microsoft9.9.9.9",
        f"/local/updates/local%2FMicrosoft{NEXT}",
        "/local/updates/x/updateRuns/y",
    ):
        missing = update_arm(usim, utoken, rest)
        assert (missing.status_code, missing.content) == (404, b""), rest


def wait_state(sim: StampSimulator, token: str, state: str) -> dict[str, Any]:
    assert wait_until(lambda: location_props(sim, token)["state"] == state, timeout=10), state
    return location_props(sim, token)


def backup_info(sim: StampSimulator, token: str, backup_id: str) -> dict[str, Any]:
    return dict(arm(sim, "GET", f"/backups/{backup_id}", token).json()["properties"]["backupInfo"])


def test_an_update_prepares_installs_and_changes_the_version(usim: StampSimulator, utoken: str) -> None:
    before = usim.run_scheduled_backup()
    usim.start_update(NEXT, prepare_seconds=0.5)
    assert location_props(usim, utoken)["state"] == "PreparationInProgress"
    update = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}").json()
    recorded = recorded_2022("2022_Get-AzsUpdate.Recording.json")["value"][0]
    assert set(update) == set(recorded) and set(update["properties"]) == set(recorded["properties"])
    assert (update["name"], update["properties"]["state"]) == (f"local/Microsoft{NEXT}", "Preparing")
    installing = wait_state(usim, utoken, "UpdateInProgress")
    assert installing["currentVersion"] == "1.2108.0.32"
    runs = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}/updateRuns").json()["value"]
    assert [r["properties"]["state"] for r in runs] == ["InProgress"]
    assert usim.finish_update() == NEXT
    done = location_props(usim, utoken)
    assert (done["state"], done["currentVersion"]) == ("AppliedSuccessfully", NEXT)
    installed = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}").json()["properties"]
    assert installed["state"] == "Installed" and installed["installedDate"] == done["lastUpdated"]
    run = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}/updateRuns/{runs[0]['name'].split('/')[-1]}")
    assert run.json()["properties"]["state"] == "Succeeded" and run.json()["properties"]["duration"] != "PT0S"
    after = usim.run_scheduled_backup()
    assert backup_info(usim, utoken, before)["stampVersion"] == "1.2108.0.32"  # made before: keeps its version
    assert backup_info(usim, utoken, after)["stampVersion"] == NEXT


def test_an_update_can_end_by_the_clock(usim: StampSimulator, utoken: str) -> None:
    usim.start_update(NEXT, seconds=0.3)
    assert location_props(usim, utoken)["state"] == "UpdateInProgress"
    assert wait_state(usim, utoken, "AppliedSuccessfully")["currentVersion"] == NEXT


def test_a_health_check_block_looks_as_recorded_and_can_be_resumed(usim: StampSimulator, utoken: str) -> None:
    run_id = usim.start_update(NEXT)
    assert usim.fail_update("health") == run_id
    props = location_props(usim, utoken)
    assert (props["state"], props["currentVersion"]) == ("UpdateFailed", "1.2108.0.32")  # the 2022 recording's pair
    assert (
        update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}").json()["properties"]["state"] == "PreparationFailed"
    )
    run = update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}/updateRuns/{run_id}").json()
    recorded = recorded_2022("2022_Get-AzsUpdateRun.Recording.json", 1)["value"][0]
    assert set(run) == set(recorded) and set(run["properties"]) == set(recorded["properties"])
    assert run["properties"]["progress"] == recorded["properties"]["progress"]
    assert (run["properties"]["state"], run["properties"]["duration"]) == ("Failed", "PT0S")
    assert run["properties"]["timeStarted"].endswith("+00:00") and run["name"] == f"local/Microsoft{NEXT}/{run_id}"
    assert usim.resume_update() is not None
    assert location_props(usim, utoken)["state"] == "UpdateInProgress"
    usim.fail_update("install")
    assert (
        update_arm(usim, utoken, f"/local/updates/Microsoft{NEXT}").json()["properties"]["state"]
        == "InstallationFailed"
    )
    usim.resume_update()
    usim.finish_update()
    assert location_props(usim, utoken)["currentVersion"] == NEXT


def test_backups_are_skipped_and_refused_while_an_update_is_not_clean(usim: StampSimulator, utoken: str) -> None:
    usim.start_update(NEXT)
    refused = arm(usim, "POST", "/createBackup", utoken)
    assert error_of(refused) == (409, "BackupBlockedByUpdate")  # simulator-invented (UPDATE_REFUSAL)
    usim.configure({"update_refusal": {"status": 400, "code": "UpdateInProgress", "message": "Try later."}})
    assert error_of(arm(usim, "POST", "/createBackup", utoken)) == (400, "UpdateInProgress")
    listed = len(arm(usim, "GET", "/backups", utoken).json()["value"])
    assert usim.scheduler_slot() is None
    with pytest.raises(RuntimeError, match="update"):
        usim.run_scheduled_backup()
    assert len(arm(usim, "GET", "/backups", utoken).json()["value"]) == listed
    usim.configure({"record_skipped": True})  # unverified: whether a skipped slot is listed at all
    skipped = usim.scheduler_slot()
    assert skipped is not None
    info = backup_info(usim, utoken, skipped)
    assert (info["status"], info["roleStatus"], info["isCloudRecoveryReady"], info["completelyUploaded"]) == (
        "Skipped",
        [],
        False,
        False,
    )
    parsed = Backup.from_json(arm(usim, "GET", f"/backups/{skipped}", utoken).json())
    assert parsed is not None and parsed.outcome is Outcome.SKIPPED and parsed.failed_roles == []
    usim.fail_update("health")
    assert error_of(arm(usim, "POST", "/createBackup", utoken))[0] == 400  # failed is not clean either
    usim.resume_update()
    usim.finish_update()
    assert arm(usim, "POST", "/createBackup", utoken).status_code == 202


def test_any_state_can_be_forced(usim: StampSimulator, utoken: str) -> None:
    for state, clean in (
        ("NeedsAttention", False),
        ("SomethingNew", False),
        ("AppliedUpdateAvailableSuccessfully", True),
    ):
        usim.set_update_state(state)
        assert location_props(usim, utoken)["state"] == state and usim.update_clean() is clean
    usim.set_update_state(None)
    assert location_props(usim, utoken)["state"] == "AppliedSuccessfully"
    usim.offer_update(NEXT)
    assert location_props(usim, utoken)["state"] == "UpdateAvailable" and usim.update_clean()
    with pytest.raises(ValueError):
        usim.set_update_state("<!channel>")


def test_a_principal_without_the_permission_gets_403(usim: StampSimulator, utoken: str) -> None:
    usim.deny_update_read()
    for rest in ("/local", "/", "/local/updates"):
        denied = update_arm(usim, utoken, rest)
        assert error_of(denied) == (403, "AuthorizationFailed"), rest
    assert "Microsoft.Update.Admin/updateLocations/read" in update_arm(usim, utoken).json()["error"]["message"]
    assert arm(usim, "GET", "/backups", utoken).status_code == 200  # the backup permissions are apart
    usim.deny_update_read(False)
    assert update_arm(usim, utoken).status_code == 200


@pytest.mark.parametrize(
    ("build", "ready", "uploaded", "data_version"),
    [("1809", True, None, "1.0.1"), ("2002", False, True, "1.0.1"), ("2108", True, True, "1.1.0")],
)
def test_cloud_recovery_fields_follow_each_build(
    build: str, ready: bool, uploaded: bool | None, data_version: str, state_dir: str
) -> None:
    """As recorded: 1809 has no completelyUploaded; every 2002 Succeeded backup says not recovery-ready."""
    sim = StampSimulator(build=build, time_scale=0.0, backup_seconds=60, state_dir=state_dir)
    sim.start()
    try:
        token = str(msal_token(sim, sim.client_secret, "/openid")["access_token"])
        info = backup_info(sim, token, sim.run_scheduled_backup("Succeeded"))
        assert info["isCloudRecoveryReady"] is ready and info.get("completelyUploaded") is uploaded
        assert ("completelyUploaded" in info) == (build != "1809") and info["backupDataVersion"] == data_version
        assert re.fullmatch(r"[0-9A-F]{40}", info["encryptionCertThumbprint"])
        partial = backup_info(sim, token, sim.run_scheduled_backup("PartialSucceeded"))
        assert partial["isCloudRecoveryReady"] is False
    finally:
        sim.stop()


def test_a_rotated_thumbprint_names_only_later_backups(usim: StampSimulator, utoken: str) -> None:
    before = usim.run_scheduled_backup()
    old = backup_info(usim, utoken, before)["encryptionCertThumbprint"]
    new = usim.rotate_thumbprint()
    assert new != old and re.fullmatch(r"[0-9A-F]{40}", new)
    store = arm(usim, "GET", "", utoken).json()["properties"]["externalStoreDefault"]
    assert store["encryptionCertThumbprint"] == new
    assert backup_info(usim, utoken, before)["encryptionCertThumbprint"] == old
    assert backup_info(usim, utoken, usim.run_scheduled_backup())["encryptionCertThumbprint"] == new
    with pytest.raises(ValueError):
        usim.rotate_thumbprint("not-hex")


def test_the_stamps_retention_prunes_backups(usim: StampSimulator, utoken: str) -> None:
    listed = {b["name"].split("/")[1] for b in arm(usim, "GET", "/backups", utoken).json()["value"]}
    pruned = usim.prune_backups(older_than=36 * 3600)  # the seeded 2-day-old backup
    assert len(pruned) == 1 and set(pruned) < listed
    assert arm(usim, "GET", f"/backups/{pruned[0]}", utoken).status_code == 404
    assert len(arm(usim, "GET", "/backups", utoken).json()["value"]) == len(listed) - 1


def test_update_control_api(usim: StampSimulator) -> None:
    def post(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(usim.url + path, json=body, verify=usim.ca_pem_path, timeout=10)

    run = post("/_sim/update/start", {"version": NEXT, "prepare_seconds": "0"}).json()["run"]
    assert post("/_sim/scheduled", {}).json() == {"id": None}
    assert post("/_sim/update/fail", {"stage": "health"}).json() == {"run": run}
    state = requests.get(usim.url + "/_sim/state", verify=usim.ca_pem_path, timeout=10).json()
    assert state["update"]["state"] == "UpdateFailed" and state["update"]["updates"] == {NEXT: "PreparationFailed"}
    assert post("/_sim/update/resume", {}).json()["run"] not in (None, run)
    assert post("/_sim/update/finish", {}).json() == {"version": NEXT}
    assert post("/_sim/update/state", {"state": "NeedsAttention"}).json() == {"ok": True}
    assert usim.update_state() == "NeedsAttention"
    assert post("/_sim/config", {"update_read_denied": True}).json() == {"ok": True} and usim.update_read_denied
    thumbprint = post("/_sim/rotate-thumbprint", {}).json()["thumbprint"]
    assert usim.state()["thumbprint"] == thumbprint
    assert post("/_sim/prune", {"older_than": 86_400}).json()["pruned"]
    for path, body in (
        ("/_sim/update/start", {"version": "1.2206; rm"}),
        ("/_sim/update/fail", {"stage": "later"}),
        ("/_sim/config", {"update_refusal": {"status": 200, "code": "x", "message": "y"}}),
    ):
        assert post(path, body).status_code == 400, path
