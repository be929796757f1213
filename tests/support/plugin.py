"""The test session's hooks for servers: which tests need one, in which order tests run, when the
pool's shared servers stop, and how many engines the session started.

- A test that uses a profile's server fixture (see PROFILE_FIXTURES), or is marked
  `takes_server(profile)`, is marked `needs_server` automatically; a test that starts engines
  by itself says so with `needs_server(engines=N)`.
- Tests run in profile order: first those without a server, then each profile's users (its
  destructive test, if any, last), then the tests that start their own engines.
- The session fixture `server_pool` (autouse) builds the pool from the tests that will run and
  starts the first profile's server at once, to boot while the tests without a server run.
- After each test, the pool hears which profiles it used (it stops a profile after its last
  user); at the end the summary prints "engine start-ups: N"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pool import PROFILES, ServerPool
from tests.support.servers import RemoteServer

# Fixture name -> the profile whose shared server it hands out.
PROFILE_FIXTURES = {
    "tiny_server": "tiny",
    "ops_server": "ops",
    "deadline_server": "deadline",
    "long_server": "long",
    "demo_server": "demo",
}
# Parametrized fixtures whose parameter is a profile name.
PROFILE_PARAMETER_FIXTURES = ("original_server",)

PLAN_KEY = pytest.StashKey[dict[str, tuple[str, ...]]]()
POOL_KEY = pytest.StashKey[ServerPool]()
ENGINES_BY_TESTS_KEY = pytest.StashKey[int]()


def profiles_of(item: pytest.Item) -> tuple[str, ...]:
    fixtures = getattr(item, "fixturenames", ())
    names = [PROFILE_FIXTURES[name] for name in fixtures if name in PROFILE_FIXTURES]
    params = getattr(getattr(item, "callspec", None), "params", {})
    names += [str(params[name]) for name in PROFILE_PARAMETER_FIXTURES if name in params]
    if (marker := item.get_closest_marker("takes_server")) is not None:
        names.append(str(marker.args[0]))
    return tuple(dict.fromkeys(names))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_server(engines=0): the test needs a real server (vLLM engine); engines: how many "
        "engines it starts by itself, for the session's count",
    )
    config.addinivalue_line(
        "markers",
        "takes_server(profile): the test kills, drains or breaks its server: it gets one of the "
        "profile's settings that no other test uses (fixture taken_server)",
    )
    config.stash[PLAN_KEY] = {}
    config.stash[ENGINES_BY_TESTS_KEY] = 0


def pytest_itemcollected(item: pytest.Item) -> None:
    """Before -m selects: a test using a server fixture is a needs_server test."""
    profiles = profiles_of(item)
    for name in profiles:
        if name not in PROFILES:
            raise pytest.UsageError(f"{item.nodeid}: no server profile named {name!r}")
    item.config.stash[PLAN_KEY][item.nodeid] = profiles
    if profiles and item.get_closest_marker("needs_server") is None:
        item.add_marker(pytest.mark.needs_server)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stable: within a rank, pytest's own order (by module, parameters grouped) stays."""
    plan = config.stash[PLAN_KEY]
    order = list(PROFILES)

    def rank(item: pytest.Item) -> tuple[int, int]:
        profiles = plan.get(item.nodeid, ())
        if profiles:
            destructive = item.get_closest_marker("takes_server") is not None
            return 1 + min(order.index(name) for name in profiles), int(destructive)
        if item.get_closest_marker("needs_server") is not None:
            return 1 + len(order), 0  # starts its own engines: after the shared servers
        return 0, 0

    items.sort(key=rank)


def _planned_profiles(session: pytest.Session) -> list[tuple[str, ...]]:
    """The profiles of the tests that will run, in run order (after -m / -k selection)."""
    plan = session.config.stash[PLAN_KEY]
    return [plan.get(item.nodeid, ()) for item in session.items]


@pytest.fixture(scope="session", autouse=True)
def server_pool(
    request: pytest.FixtureRequest, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPool]:
    """The session's shared servers (tests/support/pool.py); the first one starts at once."""
    log_dir = tmp_path_factory.mktemp("server-logs")
    pool = ServerPool(_planned_profiles(request.session), home=home, log_dir=log_dir)
    request.config.stash[POOL_KEY] = pool
    try:
        pool.start_first()
        yield pool
    finally:
        pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    """Once a test's fixtures are down, the pool may stop the profiles it was the last user of."""
    result = yield
    if POOL_KEY in item.config.stash:
        item.config.stash[POOL_KEY].finished(item.config.stash[PLAN_KEY].get(item.nodeid, ()))
    return result


def pytest_runtest_call(item: pytest.Item) -> None:
    marker = item.get_closest_marker("needs_server")
    if marker is not None:
        item.config.stash[ENGINES_BY_TESTS_KEY] += int(marker.kwargs.get("engines", 0))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    by_tests = terminalreporter.config.stash.get(ENGINES_BY_TESTS_KEY, 0)
    by_harness = RemoteServer.started
    terminalreporter.write_line(
        f"engine start-ups: {by_harness + by_tests} "
        f"({by_harness} servers started by the harness, {by_tests} engines by tests themselves)"
    )
