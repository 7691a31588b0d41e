"""Class/superclass tables → label mapping (dl_utils.classes)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dl_utils.classes import (
    EXCLUDED,
    UNUSED,
    ClassTable,
    ClassTableError,
    LabelMapping,
    SuperclassTable,
    UnknownLabelsError,
    normalize_label,
    read_table,
    roman_to_int,
)

ROOT = Path(__file__).resolve().parents[1]
CLASSES_XLSX = ROOT / "classes_template.xlsx"
SUPERCLASSES_XLSX = ROOT / "superclasses_template.xlsx"

EN_CLASSES = ["Class", "CVAT label", "Synonyms", "Note", "URL"]
EN_SUPERS = ["Index", "Superclass", "Member classes", "Priority"]


@pytest.fixture(scope="module")
def mapping() -> LabelMapping:
    return LabelMapping.from_files(CLASSES_XLSX, SUPERCLASSES_XLSX)


def write_csv(
    path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8", sep: str = ","
) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


# --- templates --------------------------------------------------------------------------------


def test_templates_exist_and_build_the_documented_mapping(mapping: LabelMapping) -> None:
    assert mapping.names == {0: "person", 1: "car", 2: "truck", 3: "bus", 4: "two-wheeler", 5: "animal"}
    assert mapping.nc == 6
    idx = mapping.map_labels(["person", "pickup", "Pickup Truck", "lorry", "coach", "bike", "dog", "cat"])
    assert idx["train_index"].tolist() == [0, 1, 1, 2, 3, 4, 5, 5]
    assert idx["meaning"].tolist() == ["Person", "Pickup", "Pickup", "Truck", "Bus", "Bicycle", "Dog", "Cat"]
    special = mapping.map_labels(["bird", "unknown", "?", "blur", "privacy blur"])["train_index"].tolist()
    assert special == [UNUSED, UNUSED, UNUSED, EXCLUDED, EXCLUDED]


def test_template_class_hierarchy(mapping: LabelMapping) -> None:
    assert mapping.classes is not None
    df = mapping.classes.df.set_index("meaning")
    assert df.loc["Vehicles", "code"] == "II" and df.loc["Vehicles", "path"] == (2,)
    assert df.loc["Pickup", "path"] == (2, 1, 1) and df.loc["Pickup", "level"] == 2
    parent = mapping.classes.df.iloc[df.loc["Pickup", "parent"]]["meaning"]
    assert parent == "Car"
    assert df.loc["Person", "synonyms"] == ["pedestrian", "human"]
    assert df.loc["Person", "url"].startswith("https://")
    # "animal" lists the group "III. Animals": Dog and Cat inherit it, Bird's explicit -1 wins
    assert mapping.index_of("dog") == 5 and mapping.index_of("bird") == UNUSED


def test_templates_superclass_spans_merged_rows() -> None:
    st = SuperclassTable.read(SUPERCLASSES_XLSX)
    rows = st.df[st.df["name"] == "two-wheeler"]
    assert rows["member"].tolist() == ["Bicycle", "Motorcycle"]
    assert rows["index"].tolist() == [4, 4] and rows["priority"].tolist() == [4, 4]
    assert st.problems == []


# --- normalization ---------------------------------------------------------------------------


def test_case_and_whitespace_insensitive(mapping: LabelMapping) -> None:
    labels = pd.Series(["  PERSON", "per\u00a0son", "Pickup\t\ttruck", "CaR"], index=[10, 11, 12, 13])
    out = mapping.map_labels(labels)
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["train_index"].tolist() == [0, -1, 1, 1]  # "per son" is a different label
    assert out["known"].tolist() == [True, False, True, True]
    assert normalize_label(" A\u00a0 B ") == "a b"
    assert "  pEdEstrian " in mapping


def test_roman_numerals() -> None:
    assert [roman_to_int(s) for s in ("I", "IV", "ix", "XIV", "MCMXC")] == [1, 4, 9, 14, 1990]
    with pytest.raises(ValueError, match="Roman"):
        roman_to_int("IIII")


def test_map_labels_large_series_is_vectorized(mapping: LabelMapping) -> None:
    labels = pd.Series(np.tile(np.array(["car", "Truck", "bird", "blur", None], dtype=object), 20000))
    out = mapping.map_labels(labels)
    assert len(out) == 100000
    counts = out["train_index"].value_counts().to_dict()
    assert counts == {1: 20000, 2: 20000, UNUSED: 40000, EXCLUDED: 20000}
    assert out["known"].sum() == 80000  # None is unknown


def test_unknown_policies_and_report(mapping: LabelMapping) -> None:
    labels = pd.Series(["car", "Zebra", "zebra ", "ufo"])
    examples = pd.Series(["t1 frame 0", "t1 frame 5", "t2 frame 1", "t2 frame 9"])
    unk = mapping.unknown(labels, examples)
    assert unk.values.tolist() == [["Zebra", 2, "t1 frame 5"], ["ufo", 1, "t2 frame 9"]]
    assert mapping.map_labels(labels, unknown="exclude")["train_index"].tolist() == [1, -2, -2, -2]
    assert mapping.map_labels(labels, unknown="unused")["train_index"].tolist() == [1, -1, -1, -1]
    with pytest.raises(UnknownLabelsError) as err:
        mapping.map_labels(labels, unknown="raise")
    assert "'Zebra': 2 object(s)" in str(err.value) and err.value.unknown["count"].tolist() == [2, 1]
    assert mapping.unknown(["car"]).empty


def test_apply_drops_unused_objects_and_excluded_frames(mapping: LabelMapping) -> None:
    ann = pd.DataFrame(
        {
            "task": ["a", "a", "a", "a", "b", "b"],
            "frame": [0, 0, 1, 1, 0, 0],
            "label": ["car", "bird", "person", "blur", "truck", "blur"],
        }
    )
    kept, excluded = mapping.apply(ann, by=["task", "frame"])
    assert kept[["task", "frame", "label", "train_index"]].values.tolist() == [["a", 0, "car", 1]]
    assert excluded.values.tolist() == [["a", 1], ["b", 0]]
    # grouped by frame only, the two tasks' frame 0 merge: both are excluded
    kept2, excluded2 = mapping.apply(ann, by="frame")
    assert kept2.empty and sorted(excluded2["frame"]) == [0, 1]
    with pytest.raises(UnknownLabelsError, match="'zebra'"):
        mapping.apply(pd.DataFrame({"frame": [0], "label": ["zebra"]}))
    with pytest.raises(ValueError, match="column"):
        mapping.apply(pd.DataFrame({"label": ["car"]}))


def test_identity_mapping() -> None:
    m = LabelMapping.identity(["person", "car", "Person ", "dog"])
    assert m.names == {0: "person", 1: "car", 2: "dog"}
    assert m.map_labels(["DOG", "car", "cat"])["train_index"].tolist() == [2, 1, -1]
    assert m.to_frame()["label"].tolist() == ["person", "car", "dog"]


# --- file formats ----------------------------------------------------------------------------

RU_CLASSES = ["Класс объекта", "Метка в CVAT", "Метка в другом источнике данных", "Примечание"]
RU_SUPERS = ["№ п/п", "Наименование суперкласса", "Классы (содержимое суперкласса)", "Приоритет"]
CLASS_ROWS = [
    ["I. Транспорт", "", "", "группа"],
    ["1. Легковой автомобиль", "Car", "автомобиль", ""],
    ["2. Грузовик", "truck", "грузовик; фура", "большие"],
    ["II. Люди", "", "", ""],
    ["1. Человек", "person", "пешеход", ""],
]
SUPER_ROWS = [[0, "машины", "Легковой автомобиль", 1], ["", "", "Грузовик", ""], [1, "люди", "Человек", 2]]


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8", "utf-8-sig"])
def test_csv_russian_headers_in_cp1251_and_utf8(tmp_path: Path, encoding: str) -> None:
    c = write_csv(tmp_path / "classes.csv", RU_CLASSES, CLASS_ROWS, encoding, sep=";")
    s = write_csv(tmp_path / "supers.csv", RU_SUPERS, SUPER_ROWS, encoding, sep=";")
    m = LabelMapping.from_files(c, s)
    assert m.names == {0: "машины", 1: "люди"}
    out = m.map_labels(["ФУРА", "Пешеход", "car", "Автомобиль"])
    assert out["train_index"].tolist() == [0, 1, 0, 0]
    assert out["meaning"].tolist() == ["Грузовик", "Человек", "Легковой автомобиль", "Легковой автомобиль"]


def test_tsv_and_english_headers(tmp_path: Path) -> None:
    c = write_csv(
        tmp_path / "c.tsv",
        EN_CLASSES,
        [["I. Things", "", "", "", ""], ["1. Box", "box", "crate", "n", "u"]],
        sep="\t",
    )
    s = write_csv(tmp_path / "s.tsv", EN_SUPERS, [[0, "box", "Box", 0]], sep="\t")
    m = LabelMapping.from_files(c, s)
    assert m.index_of("Crate") == 0 and m.names == {0: "box"}


def test_xlsx_bilingual_headers_with_title_row(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        [
            ["Таблица классов проекта", None, None],
            ["Класс объекта / Class", "Метка в CVAT / CVAT label", "Синонимы / Synonyms"],
            ["1. Cone", "cone", "traffic cone"],
        ]
    )
    path = tmp_path / "c.xlsx"
    raw.to_excel(path, header=False, index=False)
    table = ClassTable.read(path)
    assert table.df[["code", "meaning", "cvat_label"]].values.tolist() == [["1", "Cone", "cone"]]
    assert table.df["row"].tolist() == [3]
    assert read_table(path).iloc[2].tolist() == ["1. Cone", "cone", "traffic cone"]


def test_one_based_numbering_of_the_seed(tmp_path: Path) -> None:
    c = write_csv(
        tmp_path / "c.csv", EN_CLASSES[:2], [["1. A", "a"], ["2. B", "b"], ["3. C", "c"], ["4. D", "d"]]
    )
    s = write_csv(
        tmp_path / "s.csv",
        EN_SUPERS[:3],
        [[1, "a", "A"], [2, "b", "B"], [0, "unused", "C"], [-1, "excl", "D"]],
    )
    m = LabelMapping.from_files(c, s, one_based=True)
    assert m.map_labels(["a", "b", "c", "d"])["train_index"].tolist() == [0, 1, -1, -2]
    s2 = write_csv(tmp_path / "s2.csv", EN_SUPERS[:3], [[1, "a", "A"], [2, "b", "B; C"], [-1, "excl", "D"]])
    with pytest.raises(ClassTableError, match="looks 1-based"):
        LabelMapping.from_files(c, s2)


# --- validation ------------------------------------------------------------------------------


def test_validation_reports_every_problem_at_once(tmp_path: Path) -> None:
    c = write_csv(
        tmp_path / "c.csv",
        EN_CLASSES[:3],
        [
            ["1. Car", "car", "auto"],
            ["2. Truck", "truck", "AUTO"],  # duplicate label (synonym, other case)
            ["3. Van", "van", ""],  # mapped to nothing
            ["4. Bus", "bus", ""],
        ],
    )
    s = write_csv(
        tmp_path / "s.csv",
        EN_SUPERS,
        [
            [0, "car", "Car", 0],
            ["", "", "Truck", ""],
            [2, "bus", "Bus", 0],  # gap: index 1 missing
            ["", "", "Tram", ""],  # member missing from the class table
        ],
    )
    with pytest.raises(ClassTableError) as err:
        LabelMapping.from_files(c, s)
    problems = err.value.problems
    text = str(err.value)
    assert len(problems) == 4, problems
    assert "label 'auto' is used by several classes" in text
    assert "'van'" in text and "mapped to no superclass" in text
    assert "member 'Tram'" in text and "missing from the class table" in text
    assert "gaps in training indices: [1]" in text
    # non-strict: the mapping exists, problems are listed, labels from tasks are checked too
    m = LabelMapping.from_files(c, s, strict=False)
    more = m.check(pd.Series(["car", "scooter"]), pd.Series(["f0", "f7"]))
    assert (
        len(more) == 5
        and "label 'scooter' is missing from the class tables (1 object(s), e.g. f7)" in more[-1]
    )


def test_validation_of_superclass_table_rows(tmp_path: Path) -> None:
    c = write_csv(tmp_path / "c.csv", EN_CLASSES[:2], [["1. A", "a"], ["2. B", "b"], ["3. C", "c"]])
    s = write_csv(
        tmp_path / "s.csv",
        EN_SUPERS,
        [
            ["x", "bad", "A", 0],  # non-integer index
            [0, "a", "A", 0],
            [0, "other name", "B", 0],  # index 0 with two names
            [-5, "neg", "C", 0],  # below -2
        ],
    )
    with pytest.raises(ClassTableError) as err:
        LabelMapping.from_files(c, s)
    text = str(err.value)
    assert "index 'x' is not an integer" in text
    assert "index 0 has several names" in text
    assert "index -5 < -2" in text


def test_equal_priority_conflict_and_priority_resolution(tmp_path: Path) -> None:
    classes = ClassTable.from_frame(
        pd.DataFrame({"Class": ["I. Animals", "1. Dog", "2. Cat"], "CVAT label": ["", "dog", "cat"]})
    )
    tie = SuperclassTable.from_frame(
        pd.DataFrame({"Index": [0, 1], "Name": ["pet", "dog"], "Members": ["Dog", "Dog"], "Priority": [1, 1]})
    )
    with pytest.raises(ClassTableError, match="equal priority"):
        LabelMapping.from_tables(classes, tie)
    # priority breaks the tie; the group gives Cat its superclass
    ok = SuperclassTable.from_frame(
        pd.DataFrame(
            {"Index": [0, 1], "Name": ["pet", "dog"], "Members": ["Animals", "Dog"], "Priority": [1, 2]}
        )
    )
    m = LabelMapping.from_tables(classes, ok)
    assert m.map_labels(["dog", "cat"])["superclass"].tolist() == ["dog", "pet"]


def test_ambiguous_member_and_bad_hierarchy(tmp_path: Path) -> None:
    classes = ClassTable.from_frame(
        pd.DataFrame(
            {
                "Class": ["I. Cars", "1. Other", "II. Animals", "1. Other", "1.2.3. Orphan"],
                "CVAT label": ["", "other car", "", "other animal", "orphan"],
            }
        )
    )
    supers = SuperclassTable.from_frame(
        pd.DataFrame({"Index": [0, 1], "Name": ["x", "y"], "Members": ["Other", "Orphan"]})
    )
    with pytest.raises(ClassTableError) as err:
        LabelMapping.from_tables(classes, supers)
    text = str(err.value)
    assert "ambiguous" in text and "parent of 1.2.3." in text


def test_bad_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.xlsx"):
        ClassTable.read(tmp_path / "missing.xlsx")
    bad = tmp_path / "c.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(ClassTableError, match="required column"):
        ClassTable.read(bad)
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match="unsupported table format"):
        ClassTable.read(tmp_path / "t.json")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.xlsx"):
        SuperclassTable.read(tmp_path / "broken.xlsx")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises((ClassTableError, ValueError)):
        ClassTable.read(tmp_path / "empty.csv")


# --- command line ----------------------------------------------------------------------------


def test_cli_check_and_map(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl_utils.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["classes", "check", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX)])
    assert ok.exit_code == 0 and "6 training classes" in ok.output
    labels = tmp_path / "labels.txt"
    labels.write_text("car\nzebra\nZebra\n", encoding="utf-8")
    bad = runner.invoke(
        app, ["classes", "check", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX), "--labels-from", str(labels)]
    )
    assert bad.exit_code == 1 and "'zebra' is missing from the class tables (2 object(s)" in bad.output
    out = tmp_path / "mapping.csv"
    res = runner.invoke(app, ["classes", "map", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX), "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert len(table) == 26 and set(table.columns) >= {"label", "meaning", "superclass", "train_index"}
    again = runner.invoke(
        app, ["classes", "map", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX), "--out", str(out)]
    )
    assert again.exit_code == 1 and "--force" in again.output
    one = runner.invoke(app, ["classes", "map", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX), "LORRY"])
    assert one.exit_code == 0 and "truck" in one.output
    missing = runner.invoke(app, ["classes", "check", str(tmp_path / "nope.xlsx"), str(SUPERCLASSES_XLSX)])
    assert missing.exit_code == 1 and "nope.xlsx" in missing.output


def test_cli_check_labels_from_cvat_xml(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app

    task = cvat.Task(
        name="t",
        labels=[{"name": "Car"}, {"name": "zebra"}],
        annotations=[
            {"frame": 3, "label": "Car", "type": "rectangle", "points": [0, 0, 2, 2]},
            {"frame": 5, "label": "zebra", "type": "rectangle", "points": [0, 0, 2, 2]},
        ],
        size=6,
        width=8,
        height=8,
    )
    xml = cvat.save(task, tmp_path / "t.xml")
    res = CliRunner().invoke(
        app, ["classes", "check", str(CLASSES_XLSX), str(SUPERCLASSES_XLSX), "-l", str(xml)]
    )
    assert res.exit_code == 1
    assert (
        "'zebra' is missing from the class tables (1 object(s), e.g." in res.output
        and "frame 5" in res.output
    )
    assert "'Car'" not in res.output


def test_templates_are_reproducible(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_templates.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = LabelMapping.from_files(
        tmp_path / "classes_template.xlsx", tmp_path / "superclasses_template.xlsx"
    )
    shipped = LabelMapping.from_files(CLASSES_XLSX, SUPERCLASSES_XLSX)
    assert fresh.to_frame().equals(shipped.to_frame()) and fresh.names == shipped.names


def test_from_classes_without_superclass_table() -> None:
    m = LabelMapping.from_classes(CLASSES_XLSX)
    assert m.names[0] == "person" and m.names[2] == "car" and m.names[3] == "pickup"
    assert m.nc == 13  # every labeled class of the template
    assert m.map_labels(["pickup truck", "rider", "privacy blur"])["superclass"].tolist() == [
        "pickup",
        "cyclist",
        "blur",
    ]
    dup = ClassTable.from_frame(pd.DataFrame({"Class": ["1. A", "2. B"], "CVAT label": ["x", "X "]}))
    with pytest.raises(ClassTableError, match="used by several classes"):
        LabelMapping.from_classes(dup)
