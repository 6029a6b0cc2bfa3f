"""Keycloak as the local stack's identity provider: the demo realm imported at start."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import httpx

from .config import default_cache_dir
from .infra import LOCALHOST, InfraComponent, _cache_lock, _mvn, _run_checked, http_ok
from .processes import ManagedProcess

KEYCLOAK_VERSION = "26.7.3"
KEYCLOAK_ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:tar.gz"
REALM_FILE = Path(__file__).resolve().parents[2] / "keycloak" / "realm-recruitcrm.json"
REALM = "recruitcrm"
CLIENT_ID = "crm-gateway"
DEMO_TENANT = "acme"
# The demo realm's users (realm-recruitcrm.json): username -> (password, realm role).
DEMO_USERS: dict[str, tuple[str, str]] = {
    "alice.admin": ("alice-admin-demo", "admin"),
    "rita.recruiter": ("rita-recruiter-demo", "recruiter"),
    "mark.marketer": ("mark-marketer-demo", "marketer"),
    "cole.coordinator": ("cole-coordinator-demo", "coordinator"),
    "vic.viewer": ("vic-viewer-demo", "viewer"),
}
# The master realm's administrator of a local Keycloak (admin console only).
CONSOLE_ADMIN = ("admin", "admin")
# Options fixed at Keycloak's build step: changing one rebuilds the server on the next start
# (minutes), so every instance uses the same.
_BUILD_OPTIONS = ("--db=dev-mem",)


MEMINFO = Path("/proc/meminfo")


def available_memory_mib(meminfo: Path = MEMINFO) -> int | None:
    """The kernel's estimate of memory available to a new program (MiB); None if unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemAvailable":
                return int(value.split()[0]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def demo_user_ids(realm_file: Path = REALM_FILE) -> dict[str, str]:
    """Each demo user's fixed Keycloak id (the tokens' `sub`), by username.

    Fixed in the realm file because every start imports the realm into an empty in-memory
    database: generated ids would change with each restart, and the gateway, which knows a
    member by (issuer, subject), would then refuse the returning user as a second account
    with a member's address (`identity-conflict`)."""
    realm = json.loads(realm_file.read_text())
    return {user["username"]: user["id"] for user in realm["users"]}


def keycloak_home(cache_dir: Path | None = None) -> Path:
    """Where the unpacked Keycloak distribution lives once fetched."""
    return (cache_dir or default_cache_dir()) / f"keycloak-{KEYCLOAK_VERSION}"


def ensure_keycloak_dist(cache_dir: Path | None = None) -> Path:
    """Fetches and unpacks the pinned Keycloak distribution unless present; returns its home."""
    home = keycloak_home(cache_dir)
    launcher = home / "bin" / "kc.sh"
    if launcher.is_file():
        return home
    with _cache_lock(home.parent, f"keycloak-{KEYCLOAK_VERSION}"):
        if launcher.is_file():
            return home
        # Unpacking into a scratch dir and renaming it means an interrupted fetch leaves no home
        # that looks complete.
        with tempfile.TemporaryDirectory(prefix="keycloak-", dir=home.parent) as scratch:
            _run_checked(
                [
                    _mvn(),
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={KEYCLOAK_ARTIFACT}",
                    f"-DoutputDirectory={scratch}",
                ],
                what="fetching the Keycloak distribution",
                cwd=Path(scratch),
            )
            archive = Path(scratch) / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.tar.gz"
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="tar")
            unpacked = Path(scratch) / f"keycloak-{KEYCLOAK_VERSION}"
            if home.exists():
                shutil.rmtree(home)
            unpacked.rename(home)
    return home


class Keycloak(InfraComponent):
    """Keycloak in development mode (in-memory database) with the demo realm imported.

    Every start imports `realm-recruitcrm.json` afresh: nothing a developer changes in the
    admin console outlives a restart. The first start on a machine builds the server (a few
    minutes); later ones reuse that build from the cache.
    """

    optional = True

    def __init__(
        self,
        run_dir: Path,
        port: int,
        *,
        cache_dir: Path | None = None,
        heap: str = "512m",
        realm_file: Path = REALM_FILE,
        name: str = "keycloak",
    ) -> None:
        """Describes the server; nothing is fetched or started yet."""
        self.name = name
        self.run_dir = run_dir
        self.port = port
        self.cache_dir = cache_dir
        self.realm_file = realm_file
        self.home = keycloak_home(cache_dir)
        scratch = run_dir / name
        self.process = ManagedProcess(
            name=name,
            argv=[
                str(self.home / "bin" / "kc.sh"),
                "start-dev",
                *_BUILD_OPTIONS,
                "--import-realm",
                f"--http-host={LOCALHOST}",
                f"--http-port={port}",
            ],
            run_dir=run_dir,
            env={
                "KC_BOOTSTRAP_ADMIN_USERNAME": CONSOLE_ADMIN[0],
                "KC_BOOTSTRAP_ADMIN_PASSWORD": CONSOLE_ADMIN[1],
                # C1 only, as for Zipkin: a local identity provider gains nothing from C2, and
                # its start took about 30% less time (95/77 s against 116/133 s, loaded machine).
                "JAVA_OPTS_KC_HEAP": (
                    f"-Xms64m -Xmx{heap} -XX:+ExitOnOutOfMemoryError -XX:TieredStopAtLevel=1"
                ),
                # Per instance, so two Keycloaks from one cached home do not share them.
                "JAVA_OPTS_APPEND": f"-Djava.io.tmpdir={scratch / 'tmp'} "
                "-Dquarkus.transaction-manager.object-store.directory="
                f"{scratch / 'transactions'}",
            },
            ports=(port,),
            readiness=lambda: http_ok(self.discovery_url),
            # The first start on a machine builds the server: minutes on a loaded one.
            ready_timeout=600,
            stop_timeout=30,
        )

    @property
    def url(self) -> str:
        """Base URL of the Keycloak server."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def issuer(self) -> str:
        """The demo realm's issuer, as its tokens name it."""
        return f"{self.url}/realms/{REALM}"

    @property
    def discovery_url(self) -> str:
        """The demo realm's OpenID Connect discovery document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def token_url(self) -> str:
        """Where tokens are issued (password grant for scripts, code exchange for browsers)."""
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def fetched(self) -> bool:
        """Whether the distribution is in the cache already (else the first start fetches it)."""
        return (self.home / "bin" / "kc.sh").is_file()

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {
            "Keycloak issuer": self.issuer,
            "Keycloak admin": f"{self.url}/admin/ ({'/'.join(CONSOLE_ADMIN)})",
        }

    def prepare(self) -> None:
        """Fetches Keycloak if the cache lacks it and places the realm file for import."""
        ensure_keycloak_dist(self.cache_dir)
        for directory in ("tmp", "transactions"):
            (self.run_dir / self.name / directory).mkdir(parents=True, exist_ok=True)
        import_dir = self.home / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        # Renamed into place: a Keycloak starting meanwhile reads the old file or the new one.
        staged = import_dir / f".{self.realm_file.name}.{os.getpid()}"
        shutil.copyfile(self.realm_file, staged)
        staged.replace(import_dir / self.realm_file.name)


def start_keycloak(run_dir: Path, port: int, *, cache_dir: Path | None = None) -> Keycloak:
    """Starts Keycloak with the demo realm and waits until it serves the realm."""
    return Keycloak(run_dir, port, cache_dir=cache_dir).start()


class LoginForm(HTMLParser):
    """Keycloak's login form: where it posts and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "kc-form-login":
            self.action = attributes.get("action")
            self._inside = True
        elif tag == "input" and self._inside and attributes.get("type") == "hidden":
            self.fields[attributes.get("name") or ""] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def loopback_browser(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An HTTP client that keeps cookies as a browser does for loopback.

    Keycloak marks its login session cookies `Secure`; browsers send those to loopback over
    plain HTTP (a potentially trustworthy origin), Python's cookie jar does not, so each stored
    cookie's `Secure` flag is dropped for this loopback-only client."""
    client = httpx.Client(timeout=30, transport=transport)

    def trust_loopback(response: httpx.Response) -> None:
        for cookie in client.cookies.jar:
            # The cookie jar files a dotless host's cookies under `<host>.local`.
            if cookie.domain in {LOCALHOST, "localhost", "localhost.local"}:
                cookie.secure = False

    client.event_hooks["response"] = [trust_loopback]
    return client


def browser_session(gateway_url: str, username: str, tenant: str = DEMO_TENANT) -> str:
    """Signs a demo user in to the gateway as a browser does (the gateway's `/auth/login`,
    Keycloak's login form, the callback) and returns the session cookie's value: for scripts
    and benchmarks that call the console or the API with a browser session."""
    password, _ = DEMO_USERS[username]
    with loopback_browser() as browser:
        start = browser.get(f"{gateway_url}/auth/login", params={"tenant": tenant})
        if start.status_code != 302:
            raise RuntimeError(f"the gateway did not start a sign-in: {start.status_code}")
        page = browser.get(start.headers["location"])
        form = LoginForm()
        form.feed(page.text)
        if form.action is None:
            raise RuntimeError("no login form on Keycloak's sign-in page")
        answer = browser.post(
            form.action, data={**form.fields, "username": username, "password": password}
        )
        if answer.status_code != 302:
            raise RuntimeError(f"Keycloak refused {username}: {answer.status_code}")
        back = browser.get(answer.headers["location"])
        session = back.cookies.get("crm_session")
        if back.status_code != 302 or not session:
            raise RuntimeError(f"the gateway's callback answered {back.status_code}")
        return session
