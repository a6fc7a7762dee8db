"""Download, resume, verification and unpacking against a real local HTTP server."""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from http_fixture_server import FixtureServer

from weaklesion.errors import ChecksumError, ConfigError, MissingFilesError, WeaklesionError
from weaklesion.raw.download import download
from weaklesion.raw.manifest import ManifestEntry, manifest_path, read_manifest
from weaklesion.raw.unpack import unpack
from weaklesion.raw.verify import file_md5, verify, verify_all

MiB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parents[1]


def zip_bytes(members: dict[str, bytes], *, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def payload() -> bytes:
    """A real zip archive of ~2.5 MiB, so a transfer spans several 1 MiB chunks."""
    noise = random.Random(7).randbytes(5 * MiB // 2)
    return zip_bytes({"Images_png/000001_01_01/001.png": noise, "readme.txt": b"fixture\n"})


@pytest.fixture
def server():
    with FixtureServer() as srv:
        yield srv


def entry_for(name: str, body: bytes, url: str | None, **override) -> ManifestEntry:
    fields = dict(name=name, size=len(body), md5=hashlib.md5(body).hexdigest(), url=url)
    fields.update(override)
    return ManifestEntry(**fields)


def fetch(entry, dest, **kwargs):
    kwargs = {"retries": 0, "timeout": 5, "progress": False, "backoff": 0, **kwargs}
    return download(entry, dest, **kwargs)


# --- download -----------------------------------------------------------------------------


def test_fresh_download_is_verified_and_renamed(server, payload, tmp_path, capsys):
    url = server.add("/a.zip", payload)
    path = fetch(entry_for("a.zip", payload, url), tmp_path, progress=True)
    assert path == tmp_path / "a.zip"
    assert path.read_bytes() == payload
    assert not (tmp_path / "a.zip.part").exists()
    assert [(r.range, r.status, r.bytes_sent) for r in server.requests] == [
        (None, 200, len(payload))
    ]
    assert zipfile.ZipFile(path).testzip() is None
    assert "a.zip" in capsys.readouterr().err  # the progress bar names the file


def test_partial_part_is_resumed_with_a_range_request(server, payload, tmp_path):
    url = server.add("/a.zip", payload)
    done = len(payload) // 3
    (tmp_path / "a.zip.part").write_bytes(payload[:done])
    path = fetch(entry_for("a.zip", payload, url), tmp_path)
    assert path.read_bytes() == payload
    (request,) = server.requests
    assert request.range == f"bytes={done}-"
    assert request.status == 206
    assert request.bytes_sent == len(payload) - done


def test_restarts_from_zero_when_the_server_ignores_range(server, payload, tmp_path):
    url = server.add("/a.zip", payload, ranges=False)
    (tmp_path / "a.zip.part").write_bytes(payload[:1000])
    path = fetch(entry_for("a.zip", payload, url), tmp_path)
    assert path.read_bytes() == payload  # not the 1000 old bytes followed by the whole body
    (request,) = server.requests
    assert (request.range, request.status, request.bytes_sent) == ("bytes=1000-", 200,
                                                                  len(payload))


def test_part_larger_than_expected_is_discarded(server, payload, tmp_path):
    url = server.add("/a.zip", payload)
    (tmp_path / "a.zip.part").write_bytes(payload + b"junk")
    path = fetch(entry_for("a.zip", payload, url), tmp_path)
    assert path.read_bytes() == payload
    assert [r.range for r in server.requests] == [None]


def test_dropped_connection_is_retried_and_resumed(server, payload, tmp_path):
    cut = MiB + 12345
    url = server.add("/a.zip", payload, drop_after=cut, drop_times=1)
    path = fetch(entry_for("a.zip", payload, url), tmp_path, retries=2)
    assert path.read_bytes() == payload
    first, second = server.requests
    assert (first.range, first.bytes_sent) == (None, cut)
    assert (second.range, second.status) == (f"bytes={cut}-", 206)
    assert second.bytes_sent == len(payload) - cut


def test_checksum_mismatch_names_file_and_both_md5s(server, payload, tmp_path):
    wrong = bytearray(payload)
    wrong[len(wrong) // 2] ^= 0xFF
    url = server.add("/a.zip", bytes(wrong))
    entry = entry_for("a.zip", payload, url)
    with pytest.raises(ChecksumError) as caught:
        fetch(entry, tmp_path, retries=1)
    message = str(caught.value)
    assert "a.zip" in message and url in message
    assert entry.md5 in message
    assert hashlib.md5(wrong).hexdigest() in message
    assert not (tmp_path / "a.zip").exists()
    assert not (tmp_path / "a.zip.part").exists()
    assert len(server.requests) == 2


def test_wrong_size_is_a_checksum_error_with_both_sizes(server, payload, tmp_path):
    url = server.add("/a.zip", payload + b"extra")
    with pytest.raises(ChecksumError) as caught:
        fetch(entry_for("a.zip", payload, url), tmp_path)
    assert str(len(payload)) in str(caught.value)
    assert str(len(payload) + 5) in str(caught.value)
    assert not (tmp_path / "a.zip").exists()


def test_retries_are_bounded(server, payload, tmp_path):
    url = server.add("/a.zip", payload, drop_after=100)
    with pytest.raises(WeaklesionError) as caught:
        fetch(entry_for("a.zip", payload, url), tmp_path, retries=2)
    assert not isinstance(caught.value, ChecksumError)
    assert "3 attempts" in str(caught.value) and url in str(caught.value)
    assert len(server.requests) == 3
    assert not (tmp_path / "a.zip").exists()
    # Each attempt resumed the previous one's 100 bytes; they stay for the next run.
    assert [r.range for r in server.requests] == [None, "bytes=100-", "bytes=200-"]
    assert (tmp_path / "a.zip.part").read_bytes() == payload[:300]
    assert "kept in" in str(caught.value)


def test_missing_url_on_server_fails_without_retrying(server, payload, tmp_path):
    with pytest.raises(WeaklesionError, match="HTTP 404"):
        fetch(entry_for("a.zip", payload, server.url("/gone.zip")), tmp_path, retries=3)
    assert len(server.requests) == 1


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_html_error_page_served_with_200_is_rejected(server, tmp_path, content_type):
    page = b"<!DOCTYPE html>\n<html><body>Sign in to continue</body></html>"
    url = server.add("/a.zip", page, content_type=content_type)
    with pytest.raises(WeaklesionError, match="HTML page") as caught:
        fetch(ManifestEntry("a.zip", url=url), tmp_path, retries=1)
    assert "a.zip" in str(caught.value)
    assert len(server.requests) == 2
    assert not (tmp_path / "a.zip").exists()


def test_present_valid_file_is_not_downloaded_again(server, payload, tmp_path):
    url = server.add("/a.zip", payload)
    (tmp_path / "a.zip").write_bytes(payload)
    assert fetch(entry_for("a.zip", payload, url), tmp_path) == tmp_path / "a.zip"
    assert server.requests == []


def test_present_corrupt_file_is_reported_not_replaced(server, payload, tmp_path):
    url = server.add("/a.zip", payload)
    corrupt = bytearray(payload)
    corrupt[-1] ^= 0xFF
    (tmp_path / "a.zip").write_bytes(bytes(corrupt))
    with pytest.raises(ChecksumError, match="delete it"):
        fetch(entry_for("a.zip", payload, url), tmp_path)
    assert server.requests == []


def test_complete_unrenamed_part_is_verified_without_a_request(server, payload, tmp_path):
    url = server.add("/a.zip", payload)
    (tmp_path / "a.zip.part").write_bytes(payload)
    assert fetch(entry_for("a.zip", payload, url), tmp_path).read_bytes() == payload
    assert server.requests == []


def test_unknown_size_and_md5_downloads_and_reports_md5(server, payload, tmp_path):
    url = server.add("/meta.csv", b"lesion_id,image_id\nHAM_1,ISIC_1\n", content_type="text/csv")
    path = fetch(ManifestEntry("meta.csv", url=url), tmp_path)
    assert verify(path, ManifestEntry("meta.csv")) == hashlib.md5(path.read_bytes()).hexdigest()


def test_entry_without_url_says_where_to_put_the_file(tmp_path):
    with pytest.raises(MissingFilesError) as caught:
        fetch(ManifestEntry("DL_info.csv"), tmp_path)
    assert str(tmp_path / "DL_info.csv") in str(caught.value)


def counted_hashing(monkeypatch) -> list[str]:
    """The names of the files weaklesion.raw.verify hashes from now on."""
    hashed = []

    def counting(path, **kwargs):
        hashed.append(Path(path).name)
        return file_md5(path, **kwargs)

    monkeypatch.setattr("weaklesion.raw.verify.file_md5", counting)
    return hashed


def test_a_download_is_not_hashed_again_by_verification(server, payload, tmp_path,
                                                         monkeypatch):
    entry = entry_for("a.zip", payload, server.add("/a.zip", payload))
    hashed = counted_hashing(monkeypatch)
    fetch(entry, tmp_path)
    table = verify_all([entry], tmp_path)
    assert table["md5"].tolist() == [entry.md5]
    assert hashed == [] and not table["hashed_now"].any()  # hashed as it was written


def test_a_placed_file_is_hashed_once_and_again_when_it_changes(tmp_path, monkeypatch):
    good, other = b"abcdef", b"abcdeX"
    entry = ManifestEntry("f.bin", size=6, md5=hashlib.md5(good).hexdigest())
    path = tmp_path / "f.bin"
    path.write_bytes(good)
    hashed = counted_hashing(monkeypatch)
    assert verify_all([entry], tmp_path)["hashed_now"].tolist() == [True]
    again = verify_all([entry], tmp_path)
    assert again["md5"].tolist() == [entry.md5] and again["hashed_now"].tolist() == [False]
    assert hashed == ["f.bin"]
    os.utime(path)  # touched, as Snakemake touches its outputs: the same file
    assert verify_all([entry], tmp_path)["hashed_now"].tolist() == [False]
    replacement = tmp_path / "f.bin.new"
    replacement.write_bytes(other)
    os.replace(replacement, path)  # replaced by another file of the same size
    with pytest.raises(ChecksumError, match=hashlib.md5(other).hexdigest()):
        verify_all([entry], tmp_path)
    assert hashed == ["f.bin", "f.bin"]


# --- verify ------------------------------------------------------------------------------


def test_verify_reports_size_and_md5_mismatch(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abcdef")
    good = hashlib.md5(b"abcdef").hexdigest()
    assert verify(path, ManifestEntry("f.bin", size=6, md5=good)) == good
    with pytest.raises(ChecksumError, match=r"6 bytes.*expects 7 bytes"):
        verify(path, ManifestEntry("f.bin", size=7))
    other = hashlib.md5(b"other").hexdigest()
    with pytest.raises(ChecksumError) as caught:
        verify(path, ManifestEntry("f.bin", md5=other))
    assert good in str(caught.value) and other in str(caught.value)
    assert "f.bin" in str(caught.value)


def test_verify_all_table_and_missing_files_together(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"aaa")
    (tmp_path / "b.csv").write_bytes(b"bb")
    a_md5 = hashlib.md5(b"aaa").hexdigest()
    entries = [ManifestEntry("a.zip", 3, a_md5, "https://example.org/a"), ManifestEntry("b.csv")]
    table = verify_all(entries, tmp_path)
    assert list(table.columns) == ["name", "size", "md5", "expected_md5", "status",
                                   "hashed_now"]
    assert table.drop(columns="expected_md5").to_dict("records") == [
        {"name": "a.zip", "size": 3, "md5": a_md5, "status": "verified", "hashed_now": True},
        {"name": "b.csv", "size": 2, "md5": hashlib.md5(b"bb").hexdigest(),
         "status": "no-checksum", "hashed_now": True},
    ]
    assert table["expected_md5"].iloc[0] == a_md5
    assert pd.isna(table["expected_md5"].iloc[1])
    absent = entries + [ManifestEntry("c.zip", url="https://example.org/c"),
                        ManifestEntry("d.csv")]
    with pytest.raises(MissingFilesError) as caught:
        verify_all(absent, tmp_path)
    message = str(caught.value)
    assert "c.zip: download it from https://example.org/c" in message
    assert "d.csv: place it manually" in message
    assert "a.zip" not in message


def test_verify_all_reports_every_mismatch(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"aaa")
    (tmp_path / "b.zip").write_bytes(b"bbb")
    entries = [ManifestEntry("a.zip", size=4), ManifestEntry("b.zip", md5="0" * 32)]
    with pytest.raises(ChecksumError, match=r"2 of 2(.|\n)*a\.zip(.|\n)*b\.zip"):
        verify_all(entries, tmp_path)


# --- manifests ---------------------------------------------------------------------------


def write_manifest(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "m.tsv"
    path.write_text("name\tsize\tmd5\turl\n" + "".join(r + "\n" for r in rows))
    return path


def test_read_manifest_fields_and_empty_values(tmp_path):
    path = write_manifest(tmp_path, "a.zip\t12\t" + "AB" * 16 + "\thttps://x.org/a", "b.csv\t\t\t")
    assert read_manifest(path) == [
        ManifestEntry("a.zip", 12, "ab" * 16, "https://x.org/a"),
        ManifestEntry("b.csv", None, None, None),
    ]


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ("a.zip\t12\tnot-an-md5\t", "md5"),
        ("a.zip\ttwelve\t\t", "size"),
        ("a.zip\t12\t", "4 tab-separated fields"),
        ("../a.zip\t\t\t", "plain file name"),
        ("a.zip\t\t\tftp://x.org/a", "url"),
    ],
)
def test_read_manifest_bad_row_names_file_and_line(tmp_path, row, complaint):
    path = write_manifest(tmp_path, "ok.zip\t\t\t", row)
    with pytest.raises(ConfigError, match=complaint) as caught:
        read_manifest(path)
    assert f"{path}, line 3" in str(caught.value)


def test_read_manifest_rejects_duplicates_and_bad_header(tmp_path):
    path = write_manifest(tmp_path, "a.zip\t\t\t", "a.zip\t\t\t")
    with pytest.raises(ConfigError, match="line 3.*already listed on line 2"):
        read_manifest(path)
    path.write_text("file\tmd5\na.zip\t\n")
    with pytest.raises(ConfigError, match="line 1: header"):
        read_manifest(path)


def test_shipped_ham10000_manifest():
    entries = {e.name: e for e in read_manifest(manifest_path("ham10000"))}
    api = "https://dataverse.harvard.edu/api/access/datafile/"
    assert {name: e.url for name, e in entries.items()} == {
        "HAM10000_images_part_1.zip": api + "3172585",
        "HAM10000_images_part_2.zip": api + "3172584",
        "HAM10000_segmentations_lesion_tschandl.zip": api + "3838943",
        "HAM10000_metadata.csv": api + "4338392?format=original",
    }
    masks = entries["HAM10000_segmentations_lesion_tschandl.zip"]
    assert (masks.size, masks.md5) == (10808743, "6e8d252e09cfdb0189199f15985a5b84")


# NIH's official MD5 list of the 56 zips, copied verbatim from the dataset's page.
OFFICIAL_MD5_FILE = Path(__file__).parent / "data" / "deeplesion_md5.txt"


def official_deeplesion_md5() -> dict[str, str]:
    pairs = (line.split() for line in OFFICIAL_MD5_FILE.read_text().splitlines() if line.strip())
    return {name: md5 for md5, name in pairs}


def test_shipped_deeplesion_manifest_matches_the_official_md5_list():
    entries = read_manifest(manifest_path("deeplesion"))
    zips = [e for e in entries if e.name.endswith(".zip")]
    assert [e.name for e in zips] == [f"Images_png_{i:02d}.zip" for i in range(1, 57)]
    assert {e.name: e.md5 for e in zips} == official_deeplesion_md5()
    assert all(e.url.startswith("https://nihcc.box.com/shared/static/") for e in zips)
    assert len({e.url for e in zips}) == 56
    assert "DL_info.csv" in {e.name for e in entries}


def test_unknown_dataset_manifest_lists_the_available_ones():
    with pytest.raises(ConfigError, match="deeplesion, ham10000"):
        manifest_path("lits")


# --- unpack ------------------------------------------------------------------------------


def test_unpack_merges_archives_skips_macos_metadata_and_copies_other_files(tmp_path):
    masks = tmp_path / "HAM10000_segmentations_lesion_tschandl.zip"
    masks.write_bytes(zip_bytes({
        "HAM10000_segmentations_lesion_tschandl/ISIC_1_segmentation.png": b"mask1",
        "__MACOSX/HAM10000_segmentations_lesion_tschandl/._ISIC_1_segmentation.png": b"stub",
        "HAM10000_segmentations_lesion_tschandl/._hidden.png": b"stub",
    }, compression=zipfile.ZIP_DEFLATED))
    flat = tmp_path / "HAM10000_images_part_1.zip"
    flat.write_bytes(zip_bytes({"ISIC_1.jpg": b"jpeg1", "ISIC_2.jpg": b"jpeg2"}))
    tarred = tmp_path / "extra.tar.gz"
    tarred.write_bytes(tar_gz_bytes({"extra/notes.txt": b"n", "extra/._notes.txt": b"stub"}))
    metadata = tmp_path / "HAM10000_metadata.csv"
    metadata.write_text("lesion_id,image_id\nHAM_1,ISIC_1\n")

    out = unpack([masks, flat, tarred, metadata], tmp_path / "raw", progress=False)
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert files == {
        "HAM10000_segmentations_lesion_tschandl/ISIC_1_segmentation.png": b"mask1",
        "HAM10000_images_part_1/ISIC_1.jpg": b"jpeg1",
        "HAM10000_images_part_1/ISIC_2.jpg": b"jpeg2",
        "extra/notes.txt": b"n",
        "HAM10000_metadata.csv": metadata.read_bytes(),
    }
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".raw")) == []


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt"])
def test_unpack_refuses_path_traversal(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"ok.txt": b"fine", evil: b"bad"}))
    with pytest.raises(WeaklesionError, match="evil.zip") as caught:
        unpack([archive], tmp_path / "out" / "raw", progress=False)
    assert evil in str(caught.value)
    assert not (tmp_path / "out" / "raw").exists()
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out/escape.txt").exists()


def test_unpack_refuses_tar_traversal(tmp_path):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(tar_gz_bytes({"x/../../escape.txt": b"bad"}))
    with pytest.raises(WeaklesionError, match=r"evil\.tgz.*outside"):
        unpack([archive], tmp_path / "raw", progress=False)
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("name", ["Images_png_01.zip", "extra.tar.gz"])
def test_unpack_reports_a_truncated_archive_by_name(tmp_path, payload, name):
    good = payload if name.endswith(".zip") else tar_gz_bytes({"d/f.bin": payload})
    archive = tmp_path / name
    archive.write_bytes(good[: len(good) // 2])
    ok = tmp_path / "ok.zip"
    ok.write_bytes(zip_bytes({"d/ok.txt": b"ok"}))
    with pytest.raises(WeaklesionError, match="truncated") as caught:
        unpack([ok, archive], tmp_path / "raw", progress=False)
    assert str(archive) in str(caught.value)
    assert not (tmp_path / "raw").exists()


def test_unpack_reports_a_corrupt_member_by_archive_name(tmp_path):
    data = bytearray(zip_bytes({"d/f.txt": b"0123456789" * 100}))
    at = data.index(b"0123456789")
    data[at : at + 4] = b"XXXX"  # stored bytes no longer match the member's CRC
    archive = tmp_path / "bad.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(WeaklesionError, match=r"bad\.zip"):
        unpack([archive], tmp_path / "raw", progress=False)


def test_unpack_conflicting_files_from_two_archives(tmp_path):
    first, second, same = (tmp_path / n for n in ("one.zip", "two.zip", "same.zip"))
    first.write_bytes(zip_bytes({"d/f.txt": b"one"}))
    same.write_bytes(zip_bytes({"d/f.txt": b"one"}))
    second.write_bytes(zip_bytes({"d/f.txt": b"two"}))
    out = unpack([first, same], tmp_path / "ok", progress=False)
    assert (out / "d/f.txt").read_bytes() == b"one"
    with pytest.raises(WeaklesionError, match=r"two\.zip.*d/f\.txt"):
        unpack([first, second], tmp_path / "bad", progress=False)


def test_unpack_missing_archive(tmp_path):
    with pytest.raises(MissingFilesError, match="nope.zip"):
        unpack([tmp_path / "nope.zip"], tmp_path / "raw", progress=False)


def test_fixture_archive_is_a_real_zip(payload):
    assert zipfile.ZipFile(io.BytesIO(payload)).namelist() == [
        "Images_png/000001_01_01/001.png", "readme.txt"]
    assert os.fspath(manifest_path("ham10000")).endswith("ham10000.tsv")


# Official MD5 list of the 56 DeepLesion zips (NIH), as published with the dataset.

