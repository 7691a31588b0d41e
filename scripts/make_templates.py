"""Regenerate ``classes_template.xlsx`` and ``superclasses_template.xlsx`` at the repository root.

Usage:
    python scripts/make_templates.py [OUT_DIR]

The templates are a small, realistic example of the two tables read by ``dl_utils.classes``
(documented column by column in ``docs/classes.md``); the tests and the demo use them.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

CLASS_HEADERS = [
    "Класс объекта / Class",
    "Метка в CVAT / CVAT label",
    "Синонимы, метки в других источниках / Synonyms, labels in other sources",
    "Примечание / Note",
    "Ссылка / URL",
]

# (class meaning with its hierarchical index, CVAT label, synonyms, note, URL)
CLASSES = [
    ("I. People", "", "", "Люди", ""),
    (
        "1. Person",
        "person",
        "pedestrian; human",
        "Пешеход, любой человек вне транспорта",
        "https://cocodataset.org/#explore",
    ),
    ("2. Cyclist", "cyclist", "rider", "Человек на велосипеде или мотоцикле (рамка вокруг человека)", ""),
    ("II. Vehicles", "", "", "Транспорт", ""),
    ("1. Car", "car", "automobile; sedan", "Легковой автомобиль", ""),
    ("1.1. Pickup", "pickup", "pickup truck", "Пикап: в обучении объединяется с car", ""),
    ("2. Truck", "truck", "lorry", "Грузовик", ""),
    ("3. Bus", "bus", "coach", "Автобус", ""),
    ("4. Bicycle", "bicycle", "bike", "Велосипед без человека", ""),
    ("5. Motorcycle", "motorcycle", "motorbike", "Мотоцикл", ""),
    ("III. Animals", "", "", "Животные", ""),
    ("1. Dog", "dog", "", "Собака", ""),
    ("2. Cat", "cat", "", "Кошка", ""),
    ("3. Bird", "bird", "", "Птица: размечается, но в обучении не используется (-1)", ""),
    ("IV. Service labels", "", "", "Служебные метки", ""),
    (
        "1. Unknown object",
        "unknown",
        "other; ?",
        "Неопознанный объект: объект отбрасывается, кадр остаётся (-1)",
        "",
    ),
    (
        "2. Blurred region",
        "blur",
        "privacy blur",
        "Замазанная область: кадры с ней исключаются целиком (-2)",
        "",
    ),
]

SUPERCLASS_HEADERS = [
    "№ / Index",
    "Наименование суперкласса / Superclass",
    "Классы (содержимое суперкласса) / Member classes",
    "Приоритет / Priority",
]

# (training index, superclass name, [member classes], priority)
SUPERCLASSES = [
    (0, "person", ["Person", "Cyclist"], 5),
    (1, "car", ["Car", "Pickup"], 3),
    (2, "truck", ["Truck"], 3),
    (3, "bus", ["Bus"], 3),
    (4, "two-wheeler", ["Bicycle", "Motorcycle"], 4),
    (5, "animal", ["III. Animals"], 2),
    (-1, "не используется / unused", ["Bird", "Unknown object"], 0),
    (-2, "исключить кадр / excluded", ["Blurred region"], 10),
]

_FIXED_TIME = datetime(2024, 1, 1)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _new_book(title: str) -> tuple[Workbook, object]:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    wb.properties.creator = "dl_utils"
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    return wb, ws


def _header(ws, headers: list[str], widths: list[int]) -> None:
    ws.append(headers)
    for col, width in enumerate(widths, start=1):
        cell = ws.cell(row=1, column=col)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[cell.column_letter].width = width
    ws.freeze_panes = "A2"


def make_classes(path: Path) -> Path:
    wb, ws = _new_book("classes")
    _header(ws, CLASS_HEADERS, [24, 16, 30, 60, 34])
    for row in CLASSES:
        ws.append(list(row))
        if not row[1]:  # group rows in bold
            ws.cell(row=ws.max_row, column=1).font = _HEADER_FONT
    wb.save(path)
    return path


def make_superclasses(path: Path) -> Path:
    wb, ws = _new_book("superclasses")
    _header(ws, SUPERCLASS_HEADERS, [10, 28, 34, 12])
    for index, name, members, priority in SUPERCLASSES:
        first = ws.max_row + 1
        for i, member in enumerate(members):
            ws.append([index, name, member, priority] if i == 0 else [None, None, member, None])
        if len(members) > 1:  # a superclass spans several rows: merge its index/name/priority cells
            last = first + len(members) - 1
            for col in ("A", "B", "D"):
                ws.merge_cells(f"{col}{first}:{col}{last}")
                ws[f"{col}{first}"].alignment = Alignment(vertical="center")
    wb.save(path)
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    out.mkdir(parents=True, exist_ok=True)
    print(make_classes(out / "classes_template.xlsx"))
    print(make_superclasses(out / "superclasses_template.xlsx"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
