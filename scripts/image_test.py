"""Builds the image and runs it as users do (`make image-test`).

1. A Docker engine: `dockerd` is started if none answers (Debian's docker.io is installed
   first when there is none; root only).
2. The base image (debian:bookworm-slim): pulled, or, where no registry can be reached, built
   here from Debian's packages with debootstrap and imported under the same name.
3. The CPU image is built (`--clean`: without the layer cache), with the CA bundle as a build
   secret when one is given (--ca-bundle; by default the system's bundle, which is what trusts
   a company proxy that inspects TLS). Its size and build time are recorded.
4. It runs with the host network on loopback only, read-only root file system: /ready, a
   question about a picture to the demo model (checked against the scene's truth), non-root,
   the HEALTHCHECK turning healthy, and `docker stop` under load: the request in flight
   finishes, the container exits 0 after its drain.
5. `--gpu`: the GPU image is built too (not run: no GPU here).
Figures go to stdout and, as JSON, to --report.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
READY_TIMEOUT_S = 900
STOP_TIMEOUT_S = 90
# Docker 20.10's BuildKit drops a build whose client did not answer for its secrets within 5 s
# ("no active session"), which a busy machine can cause; the retry starts from the cache.
BUILD_ATTEMPTS = 3
# Fresh scenes of the demo model's kind, away from its training and evaluation seeds.
SCENE_SEEDS = (3_000_001, 3_000_002, 3_000_003)


def log(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def run(*command: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(docker_cli(), *args, check=check)


@functools.cache
def docker_cli() -> str:
    """A client that can use BuildKit: a newer docker CLI without the buildx plugin cannot,
    Debian's own (docker.io) can."""
    candidates = [shutil.which("docker"), "/usr/bin/docker"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            has_buildx = run(candidate, "buildx", "version", check=False).returncode == 0
            if has_buildx or candidate == "/usr/bin/docker":
                return candidate
    return "docker"


# --- the engine and the base image ----------------------------------------------------------


def ensure_docker() -> None:
    if shutil.which("dockerd") is None:
        log("no Docker engine: installing Debian's docker.io")
        apt_install("docker.io")
    if docker("info", check=False).returncode == 0:
        return
    log("starting dockerd")
    daemon_log = open(Path(tempfile.gettempdir()) / "llava-serve-dockerd.log", "ab")  # noqa: SIM115
    subprocess.Popen(["dockerd"], stdout=daemon_log, stderr=daemon_log, start_new_session=True)
    wait_for(lambda: docker("info", check=False).returncode == 0, 60, "dockerd to answer")


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        sys.exit(f"image-test: needs {', '.join(packages)}: apt-get install them as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env)


def ensure_base_image() -> str:
    """'pulled', 'present' or 'debootstrap'."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return "present"
    if docker("pull", BASE_IMAGE, check=False).returncode == 0:
        return "pulled"
    log(f"{BASE_IMAGE} cannot be pulled: building it from Debian's packages (debootstrap)")
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    with tempfile.TemporaryDirectory(prefix="bookworm-") as folder:
        rootfs = Path(folder) / "rootfs"
        run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR)
        slim_rootfs(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [docker_cli(), "import", "--change", 'CMD ["bash"]', "-", BASE_IMAGE],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        tar.wait()
    return "debootstrap"


def slim_rootfs(rootfs: Path) -> None:
    """What Debian's -slim images leave out: documentation, manuals, apt's lists."""
    for folder in ("usr/share/doc", "usr/share/man", "usr/share/info", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


# --- building --------------------------------------------------------------------------------


def build(flavour: str, tag: str, clean: bool, ca_bundle: Path | None) -> dict[str, float]:
    command = [docker_cli(), "build", "--network", "host", "--build-arg", f"FLAVOUR={flavour}"]
    command += ["-t", tag, "--progress", "plain"]
    if clean:
        command.append("--no-cache")
    if ca_bundle is not None:
        command += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
    log(f"building {tag} ({'clean' if clean else 'with the layer cache'})")
    started = time.monotonic()
    build_log = Path(tempfile.gettempdir()) / f"llava-serve-build-{flavour}.log"
    build_log.write_text("")
    for attempt in range(BUILD_ATTEMPTS):
        if attempt:  # the layers the first attempt finished are reused
            command = [word for word in command if word != "--no-cache"]
        with build_log.open("a") as output:
            result = subprocess.run(
                [*command, str(ROOT)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DOCKER_BUILDKIT": "1"},
            )
        if result.returncode == 0 or "no active session" not in build_log.read_text():
            break
        log("the build lost its BuildKit session (a busy machine); again, from the cache")
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"image-test: build failed, see {build_log}:\n{build_log.read_text()[-3000:]}")
    size = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)
    log(f"built {tag} in {seconds:.0f} s; {size / 1e9:.2f} GB")
    return {"build_s": round(seconds, 1), "size_bytes": size}


# --- running ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise TimeoutError(f"no {what} after {timeout_s:.0f} s")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def start_container(tag: str, name: str, port: int) -> None:
    docker("rm", "-f", name, check=False)
    docker(
        "run", "--detach", "--name", name,
        "--network", "host", "--read-only", "--tmpfs", "/tmp", "--shm-size", "1g",
        "-e", "LLAVA_SERVE_HOST=127.0.0.1", "-e", f"LLAVA_SERVE_PORT={port}",
        "-e", "VLLM_CPU_KVCACHE_SPACE=1",
        tag,
    )  # fmt: skip


def container_state(name: str, field: str) -> str:
    return docker("inspect", "-f", "{{" + field + "}}", name, check=False).stdout.strip()


def wait_ready(name: str, url: str) -> float:
    started = time.monotonic()

    def ready() -> bool:
        if container_state(name, ".State.Running") != "true":
            raise RuntimeError(f"the container stopped:\n{logs(name)}")
        return http_status(f"{url}/ready") == 200

    wait_for(ready, READY_TIMEOUT_S, "200 from /ready")
    return time.monotonic() - started


def logs(name: str) -> str:
    result = docker("logs", "--tail", "60", name, check=False)
    return result.stdout + result.stderr


def ask_about_pictures(url: str) -> list[dict[str, str]]:
    """The demo model describes fresh scenes; each answer must match the scene's truth."""
    import httpx

    from llava_demo.evaluate import ask, image_data_url
    from llava_demo.instructions import make_sample
    from llava_demo.phrasings import CANONICAL
    from llava_demo.render import render_plain
    from llava_demo.scenes import generate_scene
    from llava_demo.scoring import is_correct

    answers = []
    with httpx.Client(base_url=url, timeout=300) as client:
        for seed in SCENE_SEEDS:
            scene = generate_scene(seed)
            # The pictures and wording the committed checkpoint was trained on.
            sample = make_sample(scene, "detail", book=CANONICAL)
            picture = image_data_url(scene, render_plain)
            answer = ask(client, "llava-demo", picture, sample)
            answers.append({"question": sample.question, "answer": answer, "truth": sample.answer})
            if not is_correct(answer, sample.answer):
                raise AssertionError(f"wrong answer about scene {seed}: {answers[-1]}")
    return answers


def check_confinement(name: str) -> dict[str, object]:
    uid = docker("exec", name, "id", "-u").stdout.strip()
    assert uid != "0", "the server runs as root"
    write = docker("exec", name, "touch", "/app/written", check=False)
    assert write.returncode != 0, "the root file system is writable"
    assert container_state(name, ".HostConfig.ReadonlyRootfs") == "true"
    return {"uid": int(uid), "read_only_root": True}


def stop_under_load(name: str, url: str) -> dict[str, object]:
    """`docker stop` while a long answer streams: it finishes, then the container exits 0."""
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=long_request, args=(url, outcome))
    thread.start()
    wait_for(lambda: "started" in outcome, 120, "the long request to start")
    started = time.monotonic()
    docker("stop", "--time", str(STOP_TIMEOUT_S), name)
    stop_s = time.monotonic() - started
    thread.join(timeout=STOP_TIMEOUT_S)
    exit_code = int(container_state(name, ".State.ExitCode"))
    assert outcome.get("status") == 200 and outcome.get("finish_reason"), outcome
    assert exit_code == 0, f"exit code {exit_code}:\n{logs(name)}"
    assert "drained; shutting down" in logs(name)
    return {"stop_s": round(stop_s, 1), "exit_code": exit_code, "in_flight_request": outcome}


def long_request(url: str, outcome: dict[str, object]) -> None:
    """A streamed answer of many tokens; records its status and finish reason."""
    import httpx

    body = {
        "model": "llava-demo",
        "messages": [{"role": "user", "content": "Describe a picture."}],
        "max_tokens": 200,
        "temperature": 1.0,
        "ignore_eos": True,
        "stream": True,
    }
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as reply:
        outcome["status"] = reply.status_code
        for line in reply.iter_lines():
            outcome["started"] = True
            if line.startswith("data: {"):
                choice = json.loads(line[6:])["choices"]
                if choice and choice[0].get("finish_reason"):
                    outcome["finish_reason"] = choice[0]["finish_reason"]


def run_checks(tag: str) -> dict[str, object]:
    name = f"llava-image-test-{os.getpid()}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start_container(tag, name, port)
    try:
        ready_s = wait_ready(name, url)
        log(f"/ready after {ready_s:.0f} s")
        answers = ask_about_pictures(url)
        log(f"the demo model answered {len(answers)} questions about pictures correctly")
        confinement = check_confinement(name)
        wait_for(lambda: container_state(name, ".State.Health.Status") == "healthy", 120,
                 "healthy HEALTHCHECK")  # fmt: skip
        log("non-root, read-only root file system, HEALTHCHECK healthy")
        stop = stop_under_load(name, url)
        log(f"docker stop: the in-flight answer finished, exit 0 after {stop['stop_s']} s")
        return {"ready_s": round(ready_s, 1), "answers": answers, **confinement, **stop}
    finally:
        docker("rm", "-f", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true", help="build without the layer cache")
    parser.add_argument("--gpu", action="store_true", help="also build the GPU image")
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        default=SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.exists() else None,
        help="CA bundle the build trusts (a build secret); default: the system's",
    )
    parser.add_argument("--report", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    ensure_docker()
    report: dict[str, object] = {"base_image": ensure_base_image()}
    report["cpu"] = build("cpu", "llava-serve:cpu", args.clean, args.ca_bundle)
    report["run"] = run_checks("llava-serve:cpu")
    if args.gpu:
        report["gpu"] = build("gpu", "llava-serve:gpu", args.clean, args.ca_bundle)
    print(json.dumps(report, indent=2))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
