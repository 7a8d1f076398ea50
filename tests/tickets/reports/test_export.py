"""Exports (pure): CSV with a byte-order mark, ISO times, empty fields for null, text that
would start a formula kept as text; XLSX sheets readable by openpyxl, local times as cells,
a formula-looking name as a string."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from tickets.reports.export import Sheet, to_csv, to_xlsx

START = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
SHEET = Sheet("agents", ("bucket_start", "name", "rate"),
              [(START, "李本", 0.5), (START, "=HYPERLINK(\"http://x\")", None)])


def test_csv() -> None:
    data = to_csv(SHEET)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["bucket_start", "name", "rate"],
                    ["2026-03-02T09:00:00+08:00", "李本", "0.5"],
                    ["2026-03-02T09:00:00+08:00", "'=HYPERLINK(\"http://x\")", ""]]


def test_xlsx() -> None:
    book = load_workbook(io.BytesIO(to_xlsx([SHEET, Sheet("total", ("n",), [(3,)])])))
    assert book.sheetnames == ["agents", "total"]
    ws = book["agents"]
    assert ws["A2"].value == datetime(2026, 3, 2, 9)  # the local wall-clock time
    assert (ws["B2"].value, ws["C2"].value) == ("李本", 0.5)
    assert ws["B3"].data_type == "s" and ws["B3"].value.startswith("=HYPERLINK")
    assert book["total"]["A2"].value == 3


def test_xlsx_drops_control_characters() -> None:
    """A name with a control character (a display name is free text) must not fail the
    whole download: XLSX cannot hold them (openpyxl raises), so they are dropped."""
    sheet = Sheet("agents", ("name", "queue"), [("Bell\x07 王", "=x\x01y")])
    ws = load_workbook(io.BytesIO(to_xlsx([sheet])))["agents"]
    assert (ws["A2"].value, ws["B2"].value) == ("Bell 王", "=xy")
    assert ws["B2"].data_type == "s"
