"""Long-running child processes with pid files, log files, readiness checks and clean stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ReadinessCheck = Callable[[], bool]


class ProcessError(RuntimeError):
    """A managed process failed to start, died, or never became ready."""


class PortInUseError(ProcessError):
    """A port a process needs is already taken by something this stack did not start."""


def wait_until(
    check: ReadinessCheck, *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Polls `check` until it returns True, raising TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Tells whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the state (field 3) on, or None if pid is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it are fixed.
    return stat[stat.rindex(")") + 2 :].split()


def _proc_start_time(pid: int) -> str | None:
    """The kernel start time of a live `pid` (telling it from a recycled pid), else None."""
    fields = _stat_fields(pid)
    if fields is None or (fields[0] == "Z" and _thread_count(pid) <= 1):
        return None
    return fields[19]


def _thread_count(pid: int) -> int:
    """Counts the threads of `pid` that have not exited yet."""
    # A thread-group leader that exits before its other threads (the JVM's main thread does
    # during shutdown) shows state Z while the process is still running; only the task list
    # tells a dead process apart.
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _all_pids() -> list[int]:
    """Lists every pid in /proc."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _children_by_parent() -> dict[int, list[int]]:
    """Maps every live pid's parent pid to its children."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(pid)
    return children


def _group_members(pgid: int) -> list[int]:
    """Lists the pids whose process group is `pgid`."""
    members = []
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None and int(fields[2]) == pgid:
            members.append(pid)
    return members


def process_tree(pid: int) -> list[int]:
    """Lists `pid` and all its descendants."""
    children = _children_by_parent()
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def _tree_status_kib(pid: int, field: str) -> int:
    """Sums one memory field of /proc/<pid>/status (KiB) over `pid` and its descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
                break
    return total


def rss_kib(pid: int) -> int:
    """Sums the resident memory (VmRSS, KiB) of `pid` and its descendants."""
    return _tree_status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """Sums the high-water resident memory (VmHWM, KiB) of `pid` and its descendants."""
    return _tree_status_kib(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) `pid` and its live descendants have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields is not None:
            # utime and stime are fields 14 and 15 of stat; `fields` starts at field 3.
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class ManagedProcess:
    """A child process identified by a pid file under `run_dir`, logging to a file under it."""

    name: str
    argv: Sequence[str]
    run_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ports: Sequence[int] = ()
    readiness: ReadinessCheck | None = None
    ready_timeout: float = 60.0
    stop_timeout: float = 15.0
    extra_logs: Sequence[Path] = ()
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        """The file receiving the process's stdout and stderr."""
        return self.run_dir / "logs" / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        """The file recording the pid and kernel start time of the running process."""
        return self.run_dir / "pids" / f"{self.name}.pid"

    @property
    def pid(self) -> int | None:
        """The pid of the live process, or None when it is not running."""
        if self._popen is not None:
            if self._popen.poll() is None:
                return self._popen.pid
            self._popen = None
        try:
            pid_text, started = self.pid_path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _proc_start_time(pid) == started else None

    def is_running(self) -> bool:
        """Tells whether the process recorded in the pid file is alive."""
        return self.pid is not None

    def start(self) -> bool:
        """Starts the process unless the pid file names a live one; True when newly started."""
        if self.is_running():
            return False
        for port in self.ports:
            if port_open(port):
                raise PortInUseError(
                    f"{self.name}: port {port} is already in use by a process this stack "
                    "did not start; stop it or choose another port"
                )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%F %T')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            # A new session makes the child lead its own process group, so stop() reaches
            # everything it spawns and a Ctrl-C in the launching terminal does not.
            self._popen = subprocess.Popen(
                list(self.argv),
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = _proc_start_time(self._popen.pid)
        if started is None:
            self._popen.wait()
            raise ProcessError(f"{self.name} exited immediately:\n{self.log_tail()}")
        self.pid_path.write_text(f"{self._popen.pid} {started}\n")
        return True

    def wait_ready(self, timeout: float | None = None) -> None:
        """Blocks until the readiness check passes, failing early if the process dies."""
        limit = self.ready_timeout if timeout is None else timeout
        check = self.readiness

        def ready() -> bool:
            if not self.is_running():
                raise ProcessError(f"{self.name} exited during startup:\n{self.log_tail()}")
            return check is None or check()

        try:
            wait_until(ready, timeout=limit, what=f"{self.name} readiness")
        except TimeoutError as exc:
            raise ProcessError(f"{exc}; log tail:\n{self.log_tail()}") from exc

    async def wait_ready_async(self, ready_timeout: float | None = None) -> None:
        """Awaits readiness without blocking the event loop."""
        await asyncio.to_thread(self.wait_ready, ready_timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Sends SIGTERM to the process group, then SIGKILL if it outlives the timeout."""
        pid = self.pid
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return
        limit = self.stop_timeout if timeout is None else timeout
        self._signal(pid, signal.SIGTERM)
        try:
            wait_until(lambda: self._group_gone(pid), timeout=limit, interval=0.1)
        except TimeoutError:
            self._signal(pid, signal.SIGKILL)
            wait_until(lambda: self._group_gone(pid), timeout=5, interval=0.1, what="SIGKILL")
        self._popen = None
        self.pid_path.unlink(missing_ok=True)

    def _signal(self, pid: int, signum: signal.Signals) -> None:
        """Signals the whole process group when `pid` leads one, else just `pid`."""
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)

    def _group_gone(self, pid: int) -> bool:
        """Tells whether the process and every live member of its group have exited."""
        if self._popen is not None:
            self._popen.poll()
        if _proc_start_time(pid) is not None:
            return False
        return not any(_proc_start_time(member) is not None for member in _group_members(pid))

    def rss_kib(self) -> int | None:
        """The resident memory of the process tree in KiB, or None when not running."""
        pid = self.pid
        return None if pid is None else rss_kib(pid)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the process's log files, for error messages."""
        parts = []
        for path in (self.log_path, *self.extra_logs):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"==> {path} <==\n{tail}")
        return "\n".join(parts) or f"(no log at {self.log_path})"
