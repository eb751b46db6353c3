"""Run the embedded Label Studio server from its own virtual environment.

Label Studio pins Django, DRF and its own SDK version, so it lives in ``.venv-ls``
(made by scripts/install-label-studio.sh) and is driven as a subprocess. The
environment passed to it is built from scratch: stray ``HOST``/``PORT``/
``DJANGO_SETTINGS_MODULE`` variables otherwise leak into its settings, and the
XDG/HOME variables keep every file it writes inside the (git-ignored) data dir.
It runs with umask 077 and the settings in labeling/ls_plugin (Label Studio's own
plus a guard that keeps each labeler's annotations their own).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from model.settings import PROJECT_ROOT, Settings

ADMIN_EMAIL = "admin@example.com"
DEFAULT_PORT = 8080
CREDENTIALS = "credentials.json"
STATE = "server.json"
LOG = "server.log"
DATABASE = "label_studio.sqlite3"
PLUGIN_DIR = Path(__file__).resolve().parent / "ls_plugin"
SETTINGS_MODULE = "webcare_ls_settings"
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")


class ServerError(RuntimeError):
    """The local server cannot be started, reached or stopped; the message says why."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str


@dataclass(frozen=True)
class ServerState:
    pid: int
    port: int
    url: str
    started_at: float


def default_data_dir(settings: Settings) -> Path:
    return settings.var_dir / "label-studio"


def default_venv() -> Path:
    return Path(os.environ.get("WEBCARE_LS_VENV") or PROJECT_ROOT / ".venv-ls")


def default_port() -> int:
    return int(os.environ.get("WEBCARE_LS_PORT") or DEFAULT_PORT)


def executable(venv: Path) -> Path:
    """The server's entry point, or a ServerError telling how to install it."""
    exe = venv / "bin" / "label-studio"
    if not exe.is_file():
        raise ServerError(
            f"Label Studio is not installed in {venv}: run scripts/install-label-studio.sh"
        )
    return exe


def restrict(data_dir: Path) -> None:
    """Owner-only access to the data dir: its database holds every user's API token."""
    if not data_dir.is_dir():
        return
    os.chmod(data_dir, 0o700)
    for root, dirs, files in os.walk(data_dir):  # does not follow links into other folders
        for name, mode in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, mode)


def _write_private(path: Path, payload: dict) -> None:
    """Atomic write with mode 600 from the start: the file holds a password and token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def read_credentials(data_dir: Path) -> Credentials | None:
    path = data_dir / CREDENTIALS
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(raw["username"], raw["password"], raw["token"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ServerError(f"{path}: unreadable credentials file ({exc})") from None


def ensure_credentials(data_dir: Path) -> tuple[Credentials, bool]:
    """The admin credentials, created (and reported as new) before the first start.

    The token becomes the admin's legacy API token: Label Studio applies it only
    when it creates the user, so it must exist before the first start.
    """
    existing = read_credentials(data_dir)
    if existing is not None:
        return existing, False
    creds = Credentials(ADMIN_EMAIL, secrets.token_urlsafe(18), secrets.token_hex(20))
    _write_private(data_dir / CREDENTIALS, asdict(creds))
    return creds, True


def read_state(data_dir: Path) -> ServerState | None:
    path = data_dir / STATE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ServerState(int(raw["pid"]), int(raw["port"]), str(raw["url"]), raw["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            return resp.status == 200 and b"UP" in resp.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a reaped child is gone)."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_label_studio(pid: int) -> bool:
    """Guard against signalling an unrelated process that reused a stale pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"label-studio" in cmdline or b"label_studio" in cmdline


def server_env(data_dir: Path, creds: Credentials) -> dict[str, str]:
    """A clean environment: only what Label Studio needs, every path inside data_dir."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    xdg = data_dir / "xdg"
    env.update(
        HOME=str(data_dir / "home"),
        XDG_DATA_HOME=str(xdg / "data"),
        XDG_CONFIG_HOME=str(xdg / "config"),
        XDG_CACHE_HOME=str(xdg / "cache"),
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONPATH=str(PLUGIN_DIR),
        LABEL_STUDIO_USERNAME=creds.username,
        LABEL_STUDIO_PASSWORD=creds.password,
        LABEL_STUDIO_USER_TOKEN=creds.token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",  # its defaults send server and browser errors to HumanSignal's Sentry
        FRONTEND_SENTRY_DSN="",
        PYTHONUNBUFFERED="1",
    )
    return env


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class StartResult:
    state: ServerState
    credentials: Credentials
    first_start: bool
    already_running: bool = False


def start(
    data_dir: Path,
    *,
    port: int = DEFAULT_PORT,
    venv: Path | None = None,
    timeout: float = 300.0,
) -> StartResult:
    """Start the server in the background and wait until /health answers.

    Label Studio silently moves to port+1 when the port is taken, so the port is
    checked first; an instance already running from this data dir is reused.
    """
    exe = executable(venv or default_venv())
    if not (PLUGIN_DIR / f"{SETTINGS_MODULE}.py").is_file():
        raise ServerError(f"{PLUGIN_DIR}: the annotation guard is missing (a broken checkout?)")
    state = read_state(data_dir)
    if state is not None and _alive(state.pid) and _is_label_studio(state.pid):
        creds = read_credentials(data_dir)
        if creds is None:
            raise ServerError(f"{data_dir / CREDENTIALS}: missing; stop the server and start again")
        return StartResult(state, creds, first_start=False, already_running=True)
    if not port_is_free(port):
        raise ServerError(
            f"port {port} on 127.0.0.1 is already in use: stop what runs there or pass --port"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    first = not (data_dir / DATABASE).exists()
    creds, _ = ensure_credentials(data_dir)
    for sub in ("home", "xdg"):
        (data_dir / sub).mkdir(exist_ok=True)
    log_path = data_dir / LOG
    log_path.touch()
    restrict(data_dir)  # also for data dirs made before this rule
    cmd = [
        str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1",
        "--port", str(port), "--log-level", "WARNING",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir,
            env=server_env(data_dir, creds),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
    url = f"http://127.0.0.1:{port}"
    state = ServerState(proc.pid, port, url, time.time())
    _write_private(data_dir / STATE, asdict(state))
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if proc.poll() is not None:
            (data_dir / STATE).unlink(missing_ok=True)
            raise ServerError(
                f"Label Studio exited with code {proc.returncode} during start; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            _terminate(proc.pid)
            (data_dir / STATE).unlink(missing_ok=True)
            raise ServerError(f"Label Studio did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.5)
    return StartResult(state, creds, first_start=first)


def _terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM (SIGINT is ignored by a background server), then SIGKILL if it hangs."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    kill = os.killpg if pgid == pid else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            _alive(pid)  # reap if it is our child
            return
        time.sleep(0.1)


def stop(data_dir: Path) -> ServerState | None:
    """Stop the server started from data_dir; returns its state, or None if none ran."""
    state = read_state(data_dir)
    if state is None:
        return None
    if _alive(state.pid) and _is_label_studio(state.pid):
        _terminate(state.pid)
    else:
        state = None
    (data_dir / STATE).unlink(missing_ok=True)
    return state


def running(data_dir: Path) -> ServerState | None:
    state = read_state(data_dir)
    if state is not None and _alive(state.pid) and _is_label_studio(state.pid):
        return state
    return None


def prepare_template(template: Path, *, venv: Path | None = None, timeout: float = 300.0) -> Path:
    """A migrated data dir to copy from: the first start runs ~30 s of migrations.

    Built in a sibling temp dir and renamed into place, so an interrupted build
    never leaves a half-migrated template behind.
    """
    if (template / DATABASE).is_file() and (template / CREDENTIALS).is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    building = template.with_name(f".{template.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        start(building, port=free_port(), venv=venv, timeout=timeout)
        stop(building)
        for name in (STATE, LOG):
            (building / name).unlink(missing_ok=True)
        try:
            building.rename(template)
        except OSError:
            if not (template / DATABASE).is_file():  # not a concurrent builder winning
                raise
    finally:
        stop(building)
        shutil.rmtree(building, ignore_errors=True)
    return template


def copy_data_dir(template: Path, target: Path) -> None:
    """Copy a migrated data dir (keeps its admin user, token and SECRET_KEY)."""
    shutil.copytree(
        template,
        target,
        ignore=shutil.ignore_patterns(STATE, LOG, "export", ".*.tmp"),
        dirs_exist_ok=False,
    )
    restrict(target)
