"""`get_file`: download a file into the kerasx cache, check its hash, extract archives."""

import os
import tarfile
import urllib.parse
import zipfile

from . import mnist as _mnist  # the download / checksum / cache helpers

__all__ = ["get_file", "keras_home"]


def keras_home():
    """The kerasx cache root: `$KERASX_HOME`, or `~/.kerasx` (Keras uses `~/.keras`)."""
    return os.path.dirname(_mnist._cache_dir())


def _hash_algorithm(hash_algorithm, file_hash):
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"`hash_algorithm` must be 'auto', 'sha256' or 'md5'. Received: "
                         f"hash_algorithm={hash_algorithm!r}")
    if hash_algorithm == "auto":
        return "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"
    return hash_algorithm


def _extract(archive, target, archive_format):
    """Extracts `archive` into the folder `target` (tar or zip; `"auto"` tries both)."""
    if archive_format is None:
        return False
    formats = {"auto": ("tar", "zip"), "tar": ("tar",), "zip": ("zip",)}.get(archive_format)
    if formats is None:
        formats = tuple(archive_format) if isinstance(archive_format, (list, tuple)) else ()
        if not formats or any(f not in ("tar", "zip") for f in formats):
            raise ValueError(f"`archive_format` must be 'auto', 'tar', 'zip', None or a list of "
                             f"'tar'/'zip'. Received: archive_format={archive_format!r}")
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as f:
                f.extractall(target, filter="data")  # no absolute paths, links out, devices
            return True
        if kind == "zip" and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as f:
                root = os.path.realpath(target)
                for name in f.namelist():
                    dest = os.path.realpath(os.path.join(target, name))
                    if os.path.commonpath([root, dest]) != root:
                        raise ValueError(f"Refusing to extract {name!r} from {archive}: it "
                                         "would land outside the extraction folder.")
                f.extractall(target)
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Downloads a file from a URL if it is not already in the cache.

    The file lands in `cache_dir/cache_subdir/fname` (default `$KERASX_HOME/datasets`, i.e.
    `~/.kerasx/datasets`, the folder `kerasx.datasets` use; an absolute `cache_subdir` is
    used as is). A cached file whose hash does not match `file_hash` is downloaded again;
    a downloaded one that does not match is deleted and a `ValueError` raised.

    Args:
        fname: Name of the file (default: the last part of `origin`'s path). With `extract`,
            an archive `name.tar.gz` is extracted into `name_extracted/`, and a `fname`
            without a dot names the extraction folder itself (the archive is `fname_archive`).
        origin: URL of the file.
        untar: Deprecated; same as `extract=True` with `archive_format="tar"`.
        md5_hash: Deprecated; use `file_hash` (with `hash_algorithm="md5"`).
        file_hash: Expected hash of the file (SHA-256 or MD5 hex digest), or `None`.
        cache_subdir: Subfolder of `cache_dir` for the file.
        hash_algorithm: `"auto"` (SHA-256 for a 64-character hash, else MD5), `"sha256"` or
            `"md5"`.
        extract: Whether to extract an archive (tar, tar.gz, tar.bz2, zip).
        archive_format: `"auto"`, `"tar"`, `"zip"`, `None`, or a list of those formats.
        cache_dir: Cache root (default `$KERASX_HOME` or `~/.kerasx`).
        force_download: Whether to download the file even when it is cached.

    Returns:
        The path of the downloaded file, or of the extraction folder with `extract`.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded (offline).
        ValueError: on a hash mismatch, a missing `origin`, or a path as `fname`.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = _hash_algorithm(hash_algorithm, file_hash)
    if file_hash is not None:
        file_hash = str(file_hash).lower()
    datadir = os.path.join(os.path.expanduser(cache_dir or keras_home()), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    provided = fname is not None and os.fspath(fname) != ""
    fname = os.fspath(fname) if provided else ""
    if not provided:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'."
                             "Please specify the `fname` argument.")
    elif os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the "
                         f"file's parent directory, use the `cache_dir` argument. Received: "
                         f"fname={fname}")
    extract = extract or untar
    if untar:
        archive_format = "tar"
    extraction_dir = None
    if extract:
        if provided and "." in fname:
            target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, fname[:fname.find(".")] + "_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            target = os.path.join(datadir, fname + "_archive")
    else:
        target = os.path.join(datadir, fname)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and _mnist._sha256(target, algorithm) != file_hash:
        print(f"A local file was found, but it seems to be incomplete or outdated because the "
              f"{algorithm} file hash does not match the original value of {file_hash} so we "
              "will re-download the data.")
        download = True
    if download:
        print(f"Downloading data from {origin}")
        _mnist._download(origin, target, file_hash, algorithm=algorithm, hint=(
            f"Download it elsewhere and copy it to {target} (the cache folder is "
            "$KERASX_HOME, default ~/.kerasx), then call again."))
    if extract:
        if download or not os.path.isdir(extraction_dir):
            if not _extract(target, extraction_dir, archive_format):
                raise ValueError(f"Could not extract {target}: it is not a "
                                 f"{archive_format} archive.")
        return extraction_dir
    return target
