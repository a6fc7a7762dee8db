"""``lesions.csv``, the table of a ``recist`` dataset: read as a user writes it, and every bad
row refused with its line and column (``weaklesion.datasets.lesion_table``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from weaklesion.datasets.lesion_table import (
    LesionRow,
    lesions_from_masks,
    parse_lesion_row,
    read_lesion_table,
)
from weaklesion.ellipses.fitting import Ellipse, rasterise_ellipse
from weaklesion.errors import MissingFilesError

HEADER = "id,image,x1,y1,x2,y2,x3,y3,x4,y4"
GOOD = "a,img/a.png,10,20,50,20,30,10,30,30"


def table(tmp_path, *lines: str):
    path = tmp_path / "lesions.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_lesion_table(path)


def test_a_table_with_every_optional_column_and_a_note_reads_back_typed(tmp_path):
    rows, repeats = table(
        tmp_path,
        HEADER + ",group,split,mask,slice,window_center,window_width,spacing,note",
        GOOD + ",patient 7,test,masks/a.png,12,40,400,0.7,looks odd",
        " b , img/b.dcm ,1.5,2,9,2,5,0,5,4,,,,,,,,",
    )
    assert repeats == []
    first, second = (parse_lesion_row(values) for values in rows)
    assert first == LesionRow(
        row=2, lesion_id="a", image="img/a.png",
        marks=((10.0, 20.0), (50.0, 20.0), (30.0, 10.0), (30.0, 30.0)), group="patient 7",
        split="test", mask="masks/a.png", slice=12, window_center=40.0, window_width=400.0,
        spacing=0.7)
    assert second == LesionRow(row=3, lesion_id="b", image="img/b.dcm",
                               marks=((1.5, 2.0), (9.0, 2.0), (5.0, 0.0), (5.0, 4.0)))
    assert second.where == "lesions.csv row 3 (id 'b')"


def test_recist_from_masks_output_reads_back_as_the_marks_it_measured(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    mask = rasterise_ellipse(Ellipse(40, 30, 14, 36, 60), (64, 80))
    assert cv2.imwrite(str(tmp_path / "masks" / "x.png"), mask.astype(np.uint8) * 255)
    assert cv2.imwrite(str(tmp_path / "images" / "x.png"), mask.astype(np.uint8) * 200)
    written = lesions_from_masks(tmp_path / "masks", tmp_path / "lesions.csv")
    rows, _ = read_lesion_table(tmp_path / "lesions.csv")
    lesion = parse_lesion_row(rows[0])
    assert lesion.image == "images/x.png" and lesion.mask == "masks/x.png"
    assert np.allclose(np.array(lesion.marks).ravel(),
                       written.loc[0, ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"]].astype(
                           float))


def test_a_missing_column_names_it(tmp_path):
    with pytest.raises(MissingFilesError, match=r"lesions.csv: missing the columns y4, image"
                                                r"|lesions.csv: missing the columns image, y4"):
        table(tmp_path, "id,x1,y1,x2,y2,x3,y3,x4", "a,1,2,3,4,5,6,7")


def test_a_missing_table_says_what_a_recist_dataset_needs(tmp_path):
    with pytest.raises(MissingFilesError, match="no such file .a recist dataset needs "
                                                "lesions.csv"):
        read_lesion_table(tmp_path / "lesions.csv")


def test_a_repeated_id_is_reported_with_both_rows_and_left_out(tmp_path):
    rows, repeats = table(tmp_path, HEADER, GOOD, "b,img/b.png,1,1,9,1,5,0,5,2", GOOD)
    assert [values["id"] for values in rows] == ["a", "b"]
    assert repeats == ["row 4: id 'a' repeats row 2"]


@pytest.mark.parametrize(("line", "message"), [
    ("a,img/a.png,10,20,50,20,30,10,30,", "column y4 is empty"),
    ("a,img/a.png,10,20,fifty,20,30,10,30,30", "column x2 is not a finite number: 'fifty'"),
    ("a,img/a.png,10,20,5_0,20,30,10,30,30", "column x2 is not a finite number: '5_0'"),
    ("a,img/a.png,10,20,inf,20,30,10,30,30", "column x2 is not a finite number: 'inf'"),
    ("a,img/a.png,10,20,10,20,30,10,30,30", "the long axis has zero length"),
    ("a,img/a.png,10,20,50,20,30,10,30,10", "the short axis has zero length"),
    ("a,img/a.png,10,20,50,20,10,25,50,25", "the long and short axes are parallel"),
    ("a,img/a.png,10,20,50,20,70,10,70,30", "the short axis does not cross the long axis"),
    ("a,img/a.png,10,20,50,20,30,25,30,40", "the short axis does not cross the long axis"),
    (",img/a.png,10,20,50,20,30,10,30,30", "column id is empty"),
    ("a,,10,20,50,20,30,10,30,30", "column image is empty"),
])
def test_a_bad_row_names_its_column(tmp_path, line, message):
    rows, _ = table(tmp_path, HEADER, line)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_lesion_row(rows[0])


def test_axes_drawn_just_short_of_each_other_still_cross(tmp_path):
    # The short axis stops 1 px (5 % of its 19 px) above the long one.
    rows, _ = table(tmp_path, HEADER, "a,img/a.png,10,20,50,20,30,0,30,19")
    assert parse_lesion_row(rows[0]).marks[3] == (30.0, 19.0)


@pytest.mark.parametrize(("extra", "message"), [
    ("split=training", "column split is 'training', expected one of train, val, test"),
    ("slice=-1", "column slice is -1, slices count from 0"),
    ("slice=2.5", "column slice is not a whole number: '2.5'"),
    ("window_center=40", "columns window_center and window_width go together"),
    ("window_center=40;window_width=0", "column window_width must be above 0, got 0"),
    ("spacing=-0.5", "column spacing must be above 0, got -0.5"),
])
def test_a_bad_optional_value_names_its_column(tmp_path, extra, message):
    settings = dict(item.split("=") for item in extra.split(";"))
    columns = ",".join(settings)
    values = ",".join(settings.values())
    rows, _ = table(tmp_path, f"{HEADER},{columns}", f"{GOOD},{values}")
    with pytest.raises(ValueError, match=message):
        parse_lesion_row(rows[0])
