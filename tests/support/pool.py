"""Servers shared across the session, by profile.

A profile is a set of settings several test modules can share (the tiny model with the settings
most tests want, the operations limits, the demo model, each original-format checkpoint). The
plugin (tests/support/plugin.py) reads from the collected tests which profiles they use, orders
the tests by profile and tells the pool the plan. The pool then starts each profile's server
once, starts the next profile's server while the current one is in use (start-up overlaps the
tests), and stops each one after its last user.

A destructive test (marked `takes_server`: it kills, drains or breaks its server) gets a server
no other test will use: the profile's shared one when it is the profile's last user (the tests
are ordered so that it is), otherwise one started for it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tests.support.servers import RemoteServer, ServerStartError

TINY_MODEL = "tiny-llava-hf"
# tiny-llava-hf with a context of 100,000 tokens (its model.yaml says why).
LONG_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "tiny-llava-hf-long"

# The operations profile: room for 2 running + 2 queued chat requests (admission tests), a
# Retry-After of 3 s, a drain long enough for a full queue of long requests, and request-body
# limits (tests/test_request_bodies.py: a 3 s body-read timeout and a 1 MiB body cap, far from
# what the other users of the profile send). Default media settings: loopback image URLs are
# refused.
OPS_MAX_RUNNING = 2
OPS_MAX_WAITING = 2
OPS_RETRY_AFTER_S = 3
OPS_DRAIN_TIMEOUT_S = 120
OPS_BODY_READ_TIMEOUT_S = 3
OPS_MAX_REQUEST_BYTES = 1024 * 1024
# The deadline profile: the long request needs about 1 s of engine time alone, more under load.
DEADLINE_S = 0.5


@dataclass(frozen=True)
class Profile:
    name: str
    settings: Mapping[str, str]
    env: Mapping[str, str]  # variables of the server's environment beyond server_env's

    @property
    def model(self) -> str:
        return self.settings["model"]


def _profile(name: str, env: Mapping[str, str] | None = None, **settings: str) -> Profile:
    return Profile(name, MappingProxyType(settings), MappingProxyType(dict(env or {})))


# In the order the tests run in.
PROFILES: Mapping[str, Profile] = {
    profile.name: profile
    for profile in (
        # Loopback is refused as an image URL destination by default; this server allows
        # exactly 127.0.0.1 so tests can serve images (and redirects) from local HTTP servers.
        # Correctness tests compare with transformers on the same pixels: no draft decoding.
        _profile(
            "tiny",
            model=TINY_MODEL,
            media_allowed_networks="127.0.0.1/32",
            media_decode_mode="exact",
        ),
        _profile(
            "ops",
            model=TINY_MODEL,
            max_running_requests=str(OPS_MAX_RUNNING),
            max_waiting_requests=str(OPS_MAX_WAITING),
            overload_retry_after_s=str(OPS_RETRY_AFTER_S),
            drain_timeout_s=str(OPS_DRAIN_TIMEOUT_S),
            body_read_timeout_s=str(OPS_BODY_READ_TIMEOUT_S),
            max_request_bytes=str(OPS_MAX_REQUEST_BYTES),
        ),
        _profile("deadline", model=TINY_MODEL, request_timeout_s=str(DEADLINE_S)),
        _profile(
            "long",
            env={"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"},
            model=str(LONG_MODEL_DIR),
        ),
        _profile("demo", model="llava-demo"),
        _profile("original-v1", model="tiny-llava-v1-linear"),
        _profile("original-v15", model="tiny-llava-v15-mlp"),
    )
}


class ServerPool:
    """The session's shared servers; `plan` is each collected test's profiles, in run order."""

    def __init__(self, plan: Sequence[Sequence[str]], *, home: Path, log_dir: Path) -> None:
        self._home = home
        self._log_dir = log_dir
        self._order = _first_uses(plan)
        self._users: Counter[str] = Counter(name for names in plan for name in names)
        self._running: dict[str, RemoteServer] = {}
        self._retired: list[RemoteServer] = []
        # A profile whose server failed to start fails its later tests at once, with the same
        # reason, instead of each waiting out its own start-up bound.
        self._failed: dict[str, str] = {}

    def start_first(self) -> None:
        """Starts the first profile the plan needs, to boot while the first tests run."""
        if self._order:
            self._launch(self._order[0])

    def get(self, name: str) -> RemoteServer:
        """The profile's shared server, ready; the next profile's starts meanwhile."""
        if name in self._failed:
            raise ServerStartError(f"the {name!r} server failed earlier: {self._failed[name]}")
        server = self._launch(name)
        self._start_next_after(name)
        try:
            return server.wait_ready()
        except BaseException as error:  # also pytest-timeout's Failed, raised from its signal
            self._failed[name] = f"{type(error).__name__}: {error}"[-2000:]
            self._running.pop(name, None)
            server.stop()
            raise

    def take(self, name: str) -> RemoteServer:
        """A server of the profile for a destructive test; the caller stops it."""
        if self._users[name] == 1 and name in self._running:
            server = self._running.pop(name)
        else:
            server = self._server_of(PROFILES[name]).start()
        self._start_next_after(name)
        try:
            return server.wait_ready()
        except BaseException:
            server.stop()
            raise

    def launch_own(self, settings: Mapping[str, str]) -> RemoteServer:
        """A server with its own settings, not started: use it as a context manager."""
        return RemoteServer(settings, home=self._home, log_dir=self._log_dir)

    def _server_of(self, profile: Profile) -> RemoteServer:
        return RemoteServer(
            profile.settings, home=self._home, log_dir=self._log_dir, env=profile.env
        )

    def finished(self, names: Sequence[str]) -> None:
        """A test that used these profiles is over; a profile without users left stops."""
        for name in names:
            self._users[name] -= 1
            if self._users[name] <= 0 and name in self._running:
                server = self._running.pop(name)
                server.terminate()  # exits in the background; close() reaps it
                self._retired.append(server)

    def close(self) -> None:
        for server in [*self._running.values(), *self._retired]:
            server.stop()
        self._running.clear()
        self._retired.clear()

    def _launch(self, name: str) -> RemoteServer:
        if name not in self._running:
            self._running[name] = self._server_of(PROFILES[name]).start()
        return self._running[name]

    def _start_next_after(self, name: str) -> None:
        if name in self._order:
            later = self._order[self._order.index(name) + 1 :]
            upcoming = [n for n in later if self._users[n] > 0]
            if upcoming:
                self._launch(upcoming[0])


def _first_uses(plan: Sequence[Sequence[str]]) -> list[str]:
    order: list[str] = []
    for names in plan:
        order += [name for name in names if name not in order]
    return order
