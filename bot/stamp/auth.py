"""Bearer tokens for a stamp's admin ARM endpoint, from MSAL client credentials.

One :class:`TokenProvider` (and so one MSAL app and token cache) lives per stamp per process:
MSAL answers repeat calls from its cache, and a new app would fetch discovery documents again.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import certifi
import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.config.stamps import StampSettings

log = logging.getLogger(__name__)

METADATA_API_VERSION = "2015-01-01"


class StampAuthError(Exception):
    """No token could be had; the message is safe to show an operator (no secrets).

    ``error`` is the identity provider's OAuth error code (``invalid_client``) and ``detail`` its
    ``error_description`` (AD FS's ``MSIS...`` text), kept out of the message, which reaches Slack: the
    preflight (``azs-bot check``) prints them to the operator at the terminal, where they say what to fix.
    """

    def __init__(self, message: str, *, error: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.detail = detail


class _PreloadedCAAdapter(requests.adapters.HTTPAdapter):
    """Verifies against one SSL context with the stamp's CA loaded once, directly or through a proxy.

    requests hands urllib3 the CA *path*, which builds a context and parses the file again for
    every new connection (bench/: a fifth of a poll's CPU when connections are not reused). The
    context goes to both pool managers: the direct one, and the one a ``CONNECT`` proxy gets
    (``HTTPS_PROXY`` without the stamp in ``NO_PROXY``), which otherwise knew neither the context nor,
    since :meth:`cert_verify` blanks it, the CA path, and failed every stamp with a private CA.
    """

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("ssl_context", self._context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool.pop("ca_certs", None)
        pool.pop("ca_cert_dir", None)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        conn.ca_certs = conn.ca_cert_dir = None  # the context holds them


def trust_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The default trust with the stamp's CA bundle added, never replacing it.

    Default trust is the system store as Python's ``ssl`` finds it (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` included) plus certifi's roots (what ``requests`` trusted before). An Azure AD
    stamp needs both: its own root for ARM, a public root for the login host.
    """
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class VerifyingSession:
    """``requests`` session that passes ``verify`` and ``timeout`` on every request.

    A session-level ``verify`` loses against ``REQUESTS_CA_BUNDLE``; a per-request one does not
    (psf/requests#3829), so the stamp's CA bundle is honoured whatever the environment says.
    ``verify`` is a CA bundle to add to the default trust (:func:`trust_context`), ``True`` for the
    default trust alone, ``False`` for none. Redirects are not followed unless a caller asks: every
    request here carries a credential (the bearer token, or MSAL's client secret or assertion, which a
    307 would re-send to wherever it points).
    The environment is read once per host (proxies), not on every request (``trust_env`` is off).
    MSAL accepts this object as its ``http_client``.
    """

    def __init__(self, verify: str | bool = True, timeout: float = 30.0) -> None:
        self._session = requests.Session()
        self._session.trust_env = False
        if verify is not False:
            adapter: requests.adapters.HTTPAdapter = _PreloadedCAAdapter(
                trust_context(verify if isinstance(verify, str) else None), pool_maxsize=32, max_retries=0
            )
        else:
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=32, max_retries=0)
        self._session.mount("https://", adapter)
        self.verify = verify
        self.timeout = timeout
        self._proxies: dict[str, dict[str, str]] = {}

    def _proxies_for(self, url: str) -> dict[str, str]:
        """``HTTPS_PROXY``/``NO_PROXY`` for this URL's host, read from the environment once."""
        parsed = urlparse(url)
        origin = f"{parsed.scheme}://{parsed.netloc}"
        if origin not in self._proxies:
            self._proxies[origin] = requests.utils.get_environ_proxies(origin)
        return self._proxies[origin]

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self.verify
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", (min(self.timeout, 10.0), self.timeout))
        kwargs.setdefault("proxies", self._proxies_for(url))
        return self._session.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._session.close()


@dataclass(frozen=True)
class Authority:
    """Where and for what to ask for a token, read from the stamp's metadata endpoint."""

    authority: str
    scopes: list[str]
    is_adfs: bool


def discover_authority(stamp: StampSettings, http: VerifyingSession) -> Authority:
    """Read ``/metadata/endpoints``: AD FS when the login endpoint ends in ``/adfs``."""
    url = f"{stamp.arm_endpoint}/metadata/endpoints"
    try:
        response = http.get(url, params={"api-version": METADATA_API_VERSION})
        response.raise_for_status()
        auth = response.json()["authentication"]
        login = str(auth["loginEndpoint"]).rstrip("/")
        audience = str(auth["audiences"][0]).rstrip("/")
    except requests.RequestException as exc:
        raise StampAuthError(f"cannot read the stamp's metadata endpoint {url}: {type(exc).__name__}") from exc
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise StampAuthError(f"the stamp's metadata endpoint {url} returned an unexpected document") from exc
    if login.lower().endswith("/adfs"):
        return Authority(login, [audience + stamp.adfs_scope_suffix], is_adfs=True)
    if not stamp.tenant_id:
        raise StampAuthError("the stamp uses Azure AD: set AZS_TENANT_ID to the directory tenant")
    return Authority(f"{login}/{stamp.tenant_id}", [audience + stamp.aad_scope_suffix], is_adfs=False)


def load_client_credential(stamp: StampSettings) -> str | dict[str, str]:
    """A secret, or MSAL's certificate form built from a PEM holding certificate and key."""
    if stamp.client_secret:
        return stamp.client_secret
    assert stamp.client_cert_path, "settings guarantee a secret or a certificate"
    with open(stamp.client_cert_path, "rb") as handle:
        pem = handle.read()
    cert = x509.load_pem_x509_certificate(pem)
    key = serialization.load_pem_private_key(pem, password=None)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return {
        "private_key": key_pem.decode(),
        "thumbprint": thumbprint,
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


class TokenProvider:
    """Thread-safe access tokens for one stamp; the MSAL app is built on first use."""

    def __init__(self, stamp: StampSettings, http: VerifyingSession) -> None:
        self._stamp = stamp
        self._http = http
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._authority: Authority | None = None

    def _build(self) -> tuple[msal.ConfidentialClientApplication, Authority]:
        authority = discover_authority(self._stamp, self._http)
        try:
            app = msal.ConfidentialClientApplication(
                self._stamp.client_id,
                client_credential=load_client_credential(self._stamp),
                authority=authority.authority,
                instance_discovery=False,
                azure_region=False,
                http_client=self._http,
            )
        except (ValueError, requests.RequestException) as exc:
            raise StampAuthError(
                f"cannot reach the identity provider at {authority.authority}: {type(exc).__name__}"
            ) from exc
        return app, authority

    def token(self) -> str:
        """A valid access token, from MSAL's cache when it has one."""
        with self._lock:
            if self._app is None or self._authority is None:
                self._app, self._authority = self._build()
            app, authority = self._app, self._authority
        try:
            result = app.acquire_token_for_client(authority.scopes)
        except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            raise StampAuthError(f"the identity provider did not answer: {type(exc).__name__}") from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            answer = result if isinstance(result, dict) else {}
            error = str(answer.get("error") or "unknown_error")
            raise StampAuthError(
                f"the identity provider refused the service principal ({error})",
                error=error,
                detail=str(answer.get("error_description") or "")[:500] or None,
            )
        log.debug("token from %s", result.get("token_source"))
        return str(token)

    def invalidate(self) -> None:
        """Forget cached access tokens after ARM rejected one (revoked or clock skew)."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)
