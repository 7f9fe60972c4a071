"""Getting a source's files: specs folder, local copies, checksums, download from 127.0.0.1, cache.

Downloads are served by ``http.server`` on 127.0.0.1 in a thread; nothing here touches the
internet (a test that must not download replaces ``urlopen`` with a function that fails).
Most tests use a tiny VTAB-shaped source written here, so they run without ../shared/data.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from transferscope.errors import InputError
from transferscope.ingest.sources import get_spec, known_sources, load_source, sha256_file

TINY_CSV = (
    b"train_examples_if_subset,1000,1000,full,full,metadata,metadata,metadata,metadata\n"
    b"dataset,Pets,SVHN,Pets,SVHN,model,architecture,hyper_sweep_size,preprocessing\n"
    b"method,,,,,,,,\n"
    b"Sup-100%,50.5,60.25,70.0,80.125,https://tfhub.dev/vtab/sup-100/1,ResNet50,4,resize(224)\n"
    b"From-Scratch,10.0,20.0,30.0,40.0,,ResNet50,4,resize(224)\n"
)
TINY_SHA = hashlib.sha256(TINY_CSV).hexdigest()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _tiny_spec(sha: str = TINY_SHA) -> str:
    return f"""
name = "tiny"
title = "A tiny VTAB-shaped table"
citation = "none"
license = "CC0-1.0"
repo = "example/tiny"
commit = "{COMMIT}"
url = "https://github.com/example/tiny/blob/{COMMIT}/docs/results.csv"
folder = "tiny-folder"
reshape = "vtab"
require_upstream = false
expected_rows = 8

[[files]]
name = "results.csv"
path = "docs/results.csv"
sha256 = "{sha}"
role = "results"

[mapping]
method = "full_ft"
downstream_metric = "accuracy"
scratch_models = ["From-Scratch"]
pretrain_data = "imagenet-1k"

[mapping.regimes."1000"]
label = "1000_examples"
shots = 1000

[mapping.regimes.full]
label = "full"
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "tiny.toml").write_text(_tiny_spec(), encoding="utf-8")
    return folder


def _mirror(root: Path, content: bytes = TINY_CSV) -> Path:
    """A folder laid out like ../shared/data holding the tiny source."""
    (root / "tiny-folder").mkdir(parents=True)
    (root / "tiny-folder" / "results.csv").write_bytes(content)
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("this test must not download")


def _check_tiny(frame_len: int, scores: list[float]) -> None:
    assert frame_len == 8
    # percent / 100, order: learner x (regime, dataset) as in the header; tolerance 1e-12
    expected = [0.505, 0.6025, 0.70, 0.80125, 0.10, 0.20, 0.30, 0.40]
    assert scores == pytest.approx(expected, abs=1e-12)


# --- specs folder -------------------------------------------------------------------------------


def test_tiny_source_from_a_local_copy(specs: Path, tmp_path: Path) -> None:
    loaded = load_source("tiny", from_dir=_mirror(tmp_path / "copy"), specs_dir=specs)
    frame = loaded.frame
    _check_tiny(len(frame), frame["downstream_score"].tolist())
    assert frame["shots"].isna().tolist() == [False, False, True, True] * 2
    assert frame["shots"].dropna().eq(1000).all()
    assert frame["task"].tolist() == ["Pets", "SVHN"] * 4
    assert frame["pretrained"].tolist() == [True] * 4 + [False] * 4
    assert loaded.info.sha256 == TINY_SHA  # one file: its own checksum
    assert loaded.info.commit == COMMIT
    assert loaded.require_upstream is False


def test_specs_dir_precedence(specs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "tiny.toml").write_text(_tiny_spec(), encoding="utf-8")
    (other / "second.toml").write_text(_tiny_spec().replace('"tiny"', '"second"', 1))
    monkeypatch.setenv("TRANSFERSCOPE_SOURCES", str(other))
    assert known_sources() == ["second", "tiny"]  # environment over the packaged specs
    assert known_sources(specs_dir=specs) == ["tiny"]  # argument over environment
    monkeypatch.setenv("TRANSFERSCOPE_SOURCES", str(tmp_path / "absent"))
    with pytest.raises(InputError, match="source specs folder not found"):
        known_sources()


def test_packaged_specs_are_found_without_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRANSFERSCOPE_SOURCES", raising=False)
    monkeypatch.chdir(tmp_path)  # the packaged specs are found from any working directory
    assert {"vtab", "timm", "pythia", "clip-benchmark", "mlf-scaling"} <= set(known_sources())


def test_missing_specs_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="source specs folder not found") as info:
        load_source("vtab", specs_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        load_source("imagenet-21k-everything")
    message = str(info.value)
    assert "unknown source 'imagenet-21k-everything'" in message
    for name in ("clip-benchmark", "mlf-scaling", "pythia", "timm", "vtab"):
        assert name in message
    assert "\n" not in message


def test_broken_spec_is_named(specs: Path) -> None:
    (specs / "broken.toml").write_text('name = "broken"\ntitle = [', encoding="utf-8")
    with pytest.raises(InputError, match="not a valid TOML spec") as info:
        get_spec("broken", specs_dir=specs)
    assert "broken.toml" in str(info.value)
    (specs / "partial.toml").write_text('name = "partial"\n', encoding="utf-8")
    with pytest.raises(InputError, match="lacks text key"):
        get_spec("partial", specs_dir=specs)


# --- local copies -------------------------------------------------------------------------------


def test_local_checksum_mismatch_names_file_and_both_checksums(specs: Path, tmp_path: Path) -> None:
    changed = TINY_CSV.replace(b"50.5", b"50.6")
    root = _mirror(tmp_path / "copy", changed)
    with pytest.raises(InputError) as info:
        load_source("tiny", from_dir=root, specs_dir=specs)
    message = str(info.value)
    assert str(root / "tiny-folder" / "results.csv") in message
    assert TINY_SHA in message
    assert hashlib.sha256(changed).hexdigest() in message
    assert "\n" not in message


def test_local_missing_file(specs: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not found") as info:
        load_source("tiny", from_dir=tmp_path / "empty", specs_dir=specs)
    assert "tiny-folder" in str(info.value)


def test_real_vtab_copy_with_one_changed_byte(shared_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data" / "vtab"
    copy.mkdir(parents=True)
    content = bytearray((shared_data / "vtab" / "results.csv").read_bytes())
    content[-2] = ord("9") if content[-2] != ord("9") else ord("8")
    (copy / "results.csv").write_bytes(bytes(content))
    with pytest.raises(InputError, match="checksum mismatch") as info:
        load_source("vtab", from_dir=tmp_path / "data")
    assert get_spec("vtab").files[0].sha256 in str(info.value)


# --- downloads ----------------------------------------------------------------------------------


def test_download_then_cache_hit_with_the_server_stopped(specs: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serve(_mirror(tmp_path / "mirror")) as base:
        first = load_source("tiny", cache_dir=cache, specs_dir=specs, base_url=base)
    _check_tiny(len(first.frame), first.frame["downstream_score"].tolist())
    cached = cache / "tiny-folder" / "results.csv"
    assert sha256_file(cached) == TINY_SHA
    assert [p.name for p in cached.parent.iterdir()] == ["results.csv"]  # no partial files
    # the server is gone: the cache must serve the second load
    second = load_source("tiny", cache_dir=cache, specs_dir=specs, base_url=base)
    assert second.frame.equals(first.frame)


def test_download_from_the_pinned_path_template(specs: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    target = site / "example" / "tiny" / COMMIT / "docs" / "results.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(TINY_CSV)
    with serve(site) as base:
        loaded = load_source(
            "tiny",
            cache_dir=tmp_path / "cache",
            specs_dir=specs,
            base_url=base + "/{repo}/{commit}/{path}",
        )
    assert len(loaded.frame) == 8


def test_environment_names_mirror_and_cache(
    specs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFERSCOPE_CACHE", str(tmp_path / "envcache"))
    with serve(_mirror(tmp_path / "mirror")) as base:
        monkeypatch.setenv("TRANSFERSCOPE_SOURCES_URL", base)
        loaded = load_source("tiny", specs_dir=specs)
    assert len(loaded.frame) == 8
    assert (tmp_path / "envcache" / "tiny-folder" / "results.csv").is_file()


def test_download_checksum_mismatch(specs: Path, tmp_path: Path) -> None:
    changed = TINY_CSV.replace(b"80.125", b"80.126")
    cache = tmp_path / "cache"
    mirror = _mirror(tmp_path / "mirror", changed)
    with serve(mirror) as base, pytest.raises(InputError, match="checksum mismatch") as info:
        load_source("tiny", cache_dir=cache, specs_dir=specs, base_url=base)
    message = str(info.value)
    assert f"{base}/tiny-folder/results.csv" in message
    assert TINY_SHA in message and hashlib.sha256(changed).hexdigest() in message
    assert not any(cache.rglob("*.*"))  # nothing cached


def test_corrupt_cache_is_downloaded_again(specs: Path, tmp_path: Path) -> None:
    cached = tmp_path / "cache" / "tiny-folder" / "results.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    with serve(_mirror(tmp_path / "mirror")) as base:
        load_source("tiny", cache_dir=tmp_path / "cache", specs_dir=specs, base_url=base)
    assert sha256_file(cached) == TINY_SHA


def test_network_failure_is_one_line(specs: Path, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(InputError, match="cannot download") as info:
        load_source("tiny", cache_dir=tmp_path / "cache", specs_dir=specs, base_url=base)
    assert "\n" not in str(info.value)
    assert base in str(info.value)


def test_http_404_is_one_line(specs: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as base, pytest.raises(InputError, match="HTTP 404") as info:
        load_source("tiny", cache_dir=tmp_path / "cache", specs_dir=specs, base_url=base)
    assert "\n" not in str(info.value)


def test_reshaped_copy_cannot_come_from_the_published_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRANSFERSCOPE_SOURCES_URL", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", _no_network)
    for name in ("pythia", "mlf-scaling"):
        with pytest.raises(InputError, match="not published as one file") as info:
            load_source(name, cache_dir=tmp_path / "cache")
        assert "--from" in str(info.value)


def test_real_vtab_download_and_cache(shared_data: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "vtab"
    mirror.mkdir(parents=True)
    shutil.copy(shared_data / "vtab" / "results.csv", mirror / "results.csv")
    with serve(tmp_path / "mirror") as base:
        downloaded = load_source("vtab", cache_dir=tmp_path / "cache", base_url=base)
    local = load_source("vtab", from_dir=shared_data)
    assert downloaded.frame.equals(local.frame)
    assert downloaded.info == local.info
    again = load_source("vtab", cache_dir=tmp_path / "cache", base_url=base)  # server stopped
    assert len(again.frame) == 608
