"""Reports: what happened to each input row (SPEC 4.4).

    rows.py     pure: store rows -> report rows (outcome, codes, reasons) and summaries
    writers.py  CSV (for people: peoplecsv) and JSON files or streams
"""

from .rows import OUTCOMES, REPORT_FIELDS, ReportRow, Summary, report_rows, summarize
from .writers import write_report

__all__ = ["OUTCOMES", "REPORT_FIELDS", "ReportRow", "Summary", "report_rows", "summarize", "write_report"]
