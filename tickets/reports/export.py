"""Reports as tables, and tables as CSV or XLSX bytes (pure: no I/O but the bytes returned).

Why this shape: every report becomes one or more :class:`Sheet` (a name, column keys, rows
of plain values), and the two writers only know sheets. CSV carries the report's main table
(a spreadsheet program opens one table per file) and starts with a UTF-8 byte-order mark, so
Excel reads Chinese names right; XLSX carries every table, one sheet each. Column headers
are the JSON field names, so an export and the API read the same. Times: ISO 8601 with the
site's offset in CSV; in XLSX the local wall-clock time as a real date-time cell (Excel has
no time zones). Rates keep 4 decimals, seconds 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tickets.reports.schemas import (
    AgentReport,
    AgentRow,
    CsatFigures,
    QueueReport,
    QueueRow,
    SummaryReport,
    TicketFigures,
    TicketReport,
)


@dataclass(frozen=True)
class Sheet:
    name: str  # at most 31 characters (Excel's limit)
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _cell(key: str, value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 1 if key.endswith("_s") else 4)
    return value


def _sheet(name: str, models: Sequence[BaseModel], columns: Sequence[str]) -> Sheet:
    return Sheet(name, tuple(columns),
                 [tuple(_cell(c, getattr(m, c)) for c in columns) for m in models])


FIGURES = tuple(TicketFigures.model_fields)


def tables(report: BaseModel) -> list[Sheet]:
    """The report's tables, the main one first (the CSV's)."""
    if isinstance(report, QueueReport):
        cols = tuple(QueueRow.model_fields)
        return [_sheet("queues", report.rows, cols), _sheet("total", [report.total], cols)]
    if isinstance(report, TicketReport):
        return [_sheet(f"by_{report.bucket}", report.by_bucket, ("bucket_start", *FIGURES)),
                _sheet("by_type", report.by_type,
                       ("type", "type_name", "type_name_zh", *FIGURES)),
                _sheet("by_channel", report.by_channel, ("channel", *FIGURES)),
                _sheet("total", [report.total], FIGURES)]
    if isinstance(report, AgentReport):
        return [_sheet("agents", report.rows, tuple(AgentRow.model_fields))]
    if isinstance(report, SummaryReport):
        rows = [("tickets." + k, _cell(k, getattr(report.tickets, k))) for k in FIGURES]
        rows += [("calls." + k, _cell(k, getattr(report.calls, k)))
                 for k in QueueRow.model_fields if k not in ("bucket_start", "queue")]
        rows += [("csat." + k, _cell(k, getattr(report.csat, k)))
                 for k in CsatFigures.model_fields]
        return [Sheet("summary", ("figure", "value"), rows)]
    raise TypeError(f"not a report: {type(report).__name__}")


#: What a spreadsheet program may run as a formula when a text cell starts with it.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> Any:
    """A CSV field: times in ISO 8601; text that would start a formula (a name typed as
    ``=HYPERLINK(…)``) behind an apostrophe, which Excel shows as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_csv(sheet: Sheet) -> bytes:
    """One table as CSV: a UTF-8 byte-order mark, a header row, ``\\r\\n`` line ends, an
    empty field for a missing value (a rate over nothing, CSAT)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow(sheet.columns)
    writer.writerows([tuple("" if v is None else _text(v) for v in row) for row in sheet.rows])
    return buf.getvalue().encode("utf-8")


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """Every table as a sheet of one workbook (openpyxl, write-only mode)."""
    from openpyxl import Workbook  # imported when asked: only exports need it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(sheet.name[:31])
        ws.append(list(sheet.columns))
        for row in sheet.rows:
            cells: list[Any] = []
            for v in row:
                if isinstance(v, str):  # control characters: XLSX cannot hold them
                    v = ILLEGAL_CHARACTERS_RE.sub("", v)
                if isinstance(v, datetime):
                    v = v.replace(tzinfo=None)
                elif isinstance(v, str) and v.startswith("="):
                    v = WriteOnlyCell(ws, value=v)  # text, never a formula
                    v.data_type = "s"
                cells.append(v)
            ws.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
