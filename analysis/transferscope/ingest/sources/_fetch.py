"""Get a source's files: from a local copy, from the cache, or downloaded; always checksummed.

A local copy (``from_dir``) is laid out like ``../shared/data``: one sub-folder per source,
files named as there. Downloads come from the published address pinned to the commit
(``https://raw.githubusercontent.com/{repo}/{commit}/{path}``) unless a mirror is named, and land
in the cache only once their checksum matches.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from transferscope.errors import InputError
from transferscope.ingest.sources._spec import FileSpec, SourceSpec

#: Environment variable naming the download cache.
CACHE_ENV = "TRANSFERSCOPE_CACHE"

#: Cache used when neither an argument nor ``$TRANSFERSCOPE_CACHE`` names one.
DEFAULT_CACHE_DIR = Path("data") / "cache"

#: Environment variable naming a mirror: a base URL laid out like ``../shared/data``
#: (``BASE/{folder}/{name}``), or a template with the placeholders of :data:`DEFAULT_URL`.
URL_ENV = "TRANSFERSCOPE_SOURCES_URL"

#: The published address of a file; placeholders ``{repo}``, ``{commit}``, ``{path}``, and for
#: mirrors also ``{folder}``, ``{name}``, ``{source}``.
DEFAULT_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes.

    Parameters
    ----------
    path : pathlib.Path
        File to hash.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(where: str, expected: str, actual: str) -> InputError:
    return InputError(
        f"checksum mismatch: expected sha256 {expected}, got {actual}; "
        "the file is not the published one",
        file=where,
    )


def local_files(spec: SourceSpec, from_dir: Path) -> dict[str, Path]:
    """Find and verify a source's files in a local copy.

    Parameters
    ----------
    spec : SourceSpec
        The source.
    from_dir : pathlib.Path
        Folder laid out like ``../shared/data`` (``from_dir/<folder>/<file name>``).

    Returns
    -------
    dict of str to pathlib.Path
        File name to its verified path.

    Raises
    ------
    InputError
        A file is missing or its checksum differs from the spec.
    """
    folder = Path(from_dir) / spec.folder
    found: dict[str, Path] = {}
    for item in spec.files:
        path = folder / item.name
        if not path.is_file():
            raise InputError(
                f"file of source {spec.name!r} not found; expected a folder laid out like "
                f"the published data (<dir>/{spec.folder}/{item.name})",
                file=str(path),
            )
        actual = sha256_file(path)
        if actual != item.sha256:
            raise _mismatch(str(path), item.sha256, actual)
        found[item.name] = path
    return found


def default_cache_dir() -> Path:
    """Return the download cache: ``$TRANSFERSCOPE_CACHE`` if set, else ``data/cache``.

    Returns
    -------
    pathlib.Path
        Folder (it need not exist yet).
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE_DIR


def url_template(base_url: str | None = None) -> str:
    """Return the URL template for downloads.

    Parameters
    ----------
    base_url : str, optional
        A mirror: either a template with placeholders (see :data:`DEFAULT_URL`) or a base URL
        laid out like ``../shared/data``. Default: ``$TRANSFERSCOPE_SOURCES_URL``, else the
        published address.

    Returns
    -------
    str
        A template with ``str.format`` placeholders.
    """
    base = base_url if base_url is not None else os.environ.get(URL_ENV) or DEFAULT_URL
    if "{" in base:
        return base
    return base.rstrip("/") + "/{folder}/{name}"


def file_url(spec: SourceSpec, item: FileSpec, template: str) -> str:
    """Address of one file under ``template``.

    Parameters
    ----------
    spec : SourceSpec
        The source.
    item : FileSpec
        The file.
    template : str
        URL template (see :func:`url_template`).

    Returns
    -------
    str
        The URL.

    Raises
    ------
    InputError
        The template needs the file's published path and the file is a reshaped copy that is
        not published as one file.
    """
    if "{path}" in template and item.path is None:
        raise InputError(
            f"{item.name} of source {spec.name!r} is a reshaped copy of "
            f"{spec.repo}@{spec.commit[:12]}:{item.derived_from}, not published as one file; "
            f"pass a local copy (--from DIR) or a mirror (${URL_ENV})"
        )
    return template.format(
        repo=spec.repo,
        commit=spec.commit,
        path=item.path or "",
        folder=spec.folder,
        name=item.name,
        source=spec.name,
    )


def fetched_files(
    spec: SourceSpec,
    cache_dir: Path | None = None,
    base_url: str | None = None,
    timeout: float = _TIMEOUT_S,
) -> dict[str, Path]:
    """Return a source's files from the cache, downloading the ones missing or corrupt.

    Parameters
    ----------
    spec : SourceSpec
        The source.
    cache_dir : pathlib.Path, optional
        Cache folder; default :func:`default_cache_dir`. Files land in ``<cache>/<folder>/``.
    base_url : str, optional
        Mirror (see :func:`url_template`).
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    dict of str to pathlib.Path
        File name to its verified, cached path.

    Raises
    ------
    InputError
        A download fails (one line naming the URL and the reason) or its checksum differs.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    template = url_template(base_url)
    urls = {item.name: file_url(spec, item, template) for item in spec.files}
    found: dict[str, Path] = {}
    for item in spec.files:
        target = cache / spec.folder / item.name
        if not (target.is_file() and sha256_file(target) == item.sha256):
            _download(urls[item.name], target, item.sha256, timeout)
        found[item.name] = target
    return found


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split()) or type(reason).__name__


def _download(url: str, target: Path, expected: str, timeout: float) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the cache folder: {_one_line(exc)}", file=str(target.parent)
        ) from None
    partial = target.with_name(f"{target.name}.part{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()
        partial.unlink(missing_ok=True)
        reason = f"HTTP {exc.code} {_one_line(exc.reason)}"
        raise InputError(f"cannot download {url}: {reason}") from None
    except urllib.error.URLError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot download {url}: {_one_line(exc.reason)}") from None
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot download {url}: {_one_line(exc)}") from None
    actual = digest.hexdigest()
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise _mismatch(url, expected, actual)
    os.replace(partial, target)
