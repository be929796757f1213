"""The benchmark's workloads: no run of b sends a photo that another run or workload sent, so
no repeat measures a warm image cache."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from benchmarks.workloads import Workload, build_workloads, files_hosted


def _photos(workload: Workload) -> list[bytes]:
    if workload.files:
        return list(workload.files.values())
    urls = [request.multi_modal_data["image_url"]["url"] for request in workload.requests]
    return [base64.b64decode(url.split(",", 1)[1]) for url in urls]


def test_each_run_of_b_sends_photos_never_sent_before() -> None:
    workloads = {w.name: w for w in build_workloads(2, [1], "http://files")}
    sent = list(set(_photos(workloads["c-repeated-photo"])))  # each photo asked twice
    for run in range(3):
        for name in ("b-photo-data-url", "b-photo-http"):
            photos = _photos(workloads[name].for_run(run))
            assert len(photos) == 2
            assert not set(photos) & set(sent), (name, run)
            sent += photos
    assert len(set(sent)) == len(sent) == 4 + 3 * 2 * 2


def test_a_runs_files_are_hosted_for_that_run_only(tmp_path: Path) -> None:
    by_http = next(w for w in build_workloads(2, [1], "http://files") if w.name == "b-photo-http")
    run = by_http.for_run(5)
    urls = [request.multi_modal_data["image_url"]["url"] for request in run.requests]
    names = [url.removeprefix("http://files/") for url in urls]
    with files_hosted(run, tmp_path):
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)
    assert not list(tmp_path.iterdir())


def test_random_mm_sends_vllms_noise_jpegs_of_the_size_new_in_every_run(home: Path) -> None:
    from PIL import Image
    from vllm.tokenizers import get_tokenizer

    from benchmarks.random_mm import random_mm_workloads
    from server.model_repo import resolve_model
    from server.model_store import ensure_local
    from server.settings import REPO_MODEL_DIR

    checkpoint = ensure_local(resolve_model("tiny-llava-hf", REPO_MODEL_DIR), home).model
    (workload,) = random_mm_workloads(get_tokenizer(str(checkpoint)), 2, [(96, 48)], [8])
    sent: list[bytes] = []
    for run in range(2):
        for request in workload.for_run(run).requests:
            (part,) = request.multi_modal_data
            header, _, payload = part["image_url"]["url"].partition(",")
            assert header == "data:image/jpeg;base64"
            jpeg = base64.b64decode(payload)
            assert Image.open(io.BytesIO(jpeg)).size == (96, 48)
            sent.append(jpeg)
    assert len(set(sent)) == 4
