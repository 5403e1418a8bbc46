"""The columnar conversion engine: the only module that imports polars.

A text drop is read as physical lines by polars (`scan_csv` with no quoting and a
separator that cannot occur, so line N of the file is row N), in batches; each batch
is split, validated and rendered with vectorised expressions (`rules`), and every row
those expressions cannot decide goes, as a `RawRow`, to the row path's own
`Validator`, so the hard cases have one source of truth. Duplicate rows and
duplicate correlationIds are settled across the whole drop by `_FirstSeen` tables of
64-bit hashes plus, for the few rows whose key was seen before, the row path's
sequential rule replayed in order.

Nothing is final until the end: platform files are written under temporary names and
named (`namer`) and renamed only when the whole drop has been read, the rejected-rows
file is an atomic output, and what a sink receives is buffered on disk. So when the
input turns out to be something the columnar reader cannot parse the way the row path
does (`Ineligible`, raised at any point), everything is discarded and `convert_drop`
runs the row path instead. What is ineligible (conservative on purpose):

- spreadsheets; text whose encoding the row path did not settle as strictly valid
  UTF-8, UTF-8 with BOM, UTF-16 or Windows-1252 (after transcoding, any invalid byte);
- a line holding a CR that is not part of its CRLF ending, a NUL, a 0x1F, or longer
  than `csv.field_size_limit()` bytes;
- a quoted field that does not close on its own line (a record over several lines);
- a correlationId in the generated namespace (``{drop_key}-...``);
- a drop with no data rows, and anything polars itself refuses.
"""

from __future__ import annotations

import codecs
import csv
import os
import pickle
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# polars allocates through jemalloc, which by default keeps freed pages for 10 s: with
# a chunk's columns allocated and freed many times a second, a conversion's RSS would
# creep up by tens of MB. Read once, when the allocator starts (the first import of
# polars in the process); a value already set is left alone.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")

import polars as pl

from ..errors import InputError
from ..gsm import GSM_MULTI, GSM_SINGLE, UCS2_MULTI, UCS2_SINGLE
from ..ingest import TEXT_SUFFIXES, Table
from ..models import ColumnMap, Message, RawRow, Rejection
from ..phones import show_value
from ..render import EOF_LINE, HEADER_LINE, FileLayout, render_line
from ..validate import MAX_CORRELATION_ID_LENGTH, MAX_TEXT_LENGTH, REASONS, RejectCode, ValidationPolicy, Validator
from . import Ineligible
from .rules import NumberRule, char_class, number_rule, python_whitespace, unusual

__all__ = ["CHUNK_BYTES", "Ineligible", "Outcome", "convert_text"]

#: bytes of lines per batch: about 40,000 rows of a typical drop, tens of MB at work
CHUNK_BYTES = 2 << 20
#: candidate rows checked for duplicates at once (each check scans the drop's keys once)
GROUP_ROWS = 100_000
#: accepted keys kept in memory before they move to a file (12 bytes each)
SPILL_KEYS = 250_000
_SEED = 0x5EED_BA7C
_TRANSCODE_CHUNK = 1 << 20


@dataclass
class Outcome:
    """What the engine produced; `convert_drop` copies it into its summary."""

    kind: str
    encoding: str | None
    delimiter: str | None
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    replacements: Counter[str] = field(default_factory=Counter)
    messages_by_encoding: Counter[str] = field(default_factory=Counter)
    segments_by_encoding: Counter[str] = field(default_factory=Counter)
    first_rejections: list[Rejection] = field(default_factory=list)
    #: closed temporary platform files, in order: (temp path, rows)
    files: list[tuple[Path, int]] = field(default_factory=list)
    work: Path | None = None
    columns: ColumnMap | None = None  # the row path's column map, for the summary and the sink
    rejects: Any = None
    saved: list[tuple[int, Path]] = field(default_factory=list)  # (file index, IPC file)
    saved_rejections: list[Path] = field(default_factory=list)

    def replay(self, accepted: AcceptedSink | None, refused: RefusedSink | None) -> None:
        """Hand the buffered rows to the sinks: each file's messages in line order, as
        columns, then the refused rows in batches."""
        if accepted is not None:
            for index, saved in self.saved:
                part = pl.read_ipc(saved)
                accepted(
                    index,
                    part.get_column("line").to_list(),
                    part.get_column("number").to_list(),
                    part.get_column("text").to_list(),
                    part.get_column("cid").to_list(),
                    part.get_column("encoding").to_list(),
                    part.get_column("segments").to_list(),
                )
        if refused is not None:
            for saved in self.saved_rejections:
                with saved.open("rb") as fh:
                    refused(pickle.load(fh))  # our own file, written by _Run

    def close(self) -> None:
        """Remove the buffers and any temporary file not renamed."""
        for path, _ in self.files:
            path.unlink(missing_ok=True)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


#: receives, once the drop is complete, each file's accepted messages as columns
#: (file index, line, number, text, correlationId, encoding, segments) and refused rows
AcceptedSink = Callable[[int, list[int], list[str], list[str], list[str], list[str], list[int]], None]
RefusedSink = Callable[[list[Rejection]], None]


def convert_text(
    source: Path,
    *,
    opener: Callable[[], Table],
    policy: ValidationPolicy,
    drop_key: str,
    layout: FileLayout,
    max_rows: int,
    out_dir: Path | None,
    reject_writer: Callable[[ColumnMap], Any],
    buffer: bool,
    progress: Callable[[int], None] | None,
    keep_rejections: int,
) -> Outcome:
    """Convert a text drop column-wise, or raise `Ineligible` having left nothing behind.

    `opener()` is the row path's reader (`ingest.open_table` with the caller's
    arguments): the encoding, delimiter, column map and first data row come from it.

    `reject_writer(columns)` makes the rejected-rows writer (`write`, `abort`; the
    caller finishes it, as `outcome.rejects`). The platform files come back under
    temporary names (`outcome.files`) for the caller to name; with `buffer`, the
    accepted and refused rows are kept on disk for `outcome.replay`. Call
    `outcome.close()` when done. `InputError` from the row path's reader is passed on.
    """
    if source.suffix.lower() not in TEXT_SUFFIXES:
        raise Ineligible("a spreadsheet")
    table = opener()
    try:
        if table.kind != "csv" or table.encoding not in ("utf-8", "utf-8-sig", "utf-16", "cp1252"):
            raise Ineligible(f"{table.kind} in {table.encoding}")
        if table.screen is not None:  # the reader refuses some rows itself (bytes that do not decode)
            raise Ineligible("rows the reader screens out")
        try:
            first = next(table.rows, None)
        except InputError as exc:
            raise Ineligible(f"the reader refused it: {exc}") from None
        if first is None:
            raise Ineligible("no data rows")
        columns, encoding, delimiter = table.columns, table.encoding, table.delimiter
    finally:
        table.close()
    assert delimiter is not None
    if out_dir is not None:  # as the row path does before its first row
        out_dir.mkdir(parents=True, exist_ok=True)
    # beside the outputs when there are some: the same disk, cleaned up with them
    work = Path(tempfile.mkdtemp(prefix=".columnar-", dir=out_dir) if out_dir is not None
                else tempfile.mkdtemp(prefix="batcher-columnar-"))
    writer = _Files(out_dir, layout, max_rows, work) if out_dir is not None else None
    outcome = Outcome("csv", encoding, delimiter, work=work, columns=columns)
    outcome.rejects = rejects = reject_writer(columns)
    try:
        path = source if encoding in ("utf-8", "utf-8-sig") else _transcode(source, encoding, work)
        run = _Run(policy, columns, drop_key, delimiter, path, outcome, writer, rejects, buffer=buffer,
                   keep_rejections=keep_rejections)
        try:
            for line, offset, length, frame in _batches(path, first.line, columns, policy, delimiter, run.prefix):
                if line == first.line and _cells(frame.item(0, "raw") or "", delimiter, line) != first.cells:
                    raise Ineligible("its first row is not where the reader found it")
                run.chunk(line, offset, length, frame)
                if progress is not None:
                    progress(outcome.rows_read)
            run.flush()
        except pl.exceptions.PolarsError as exc:
            raise Ineligible(f"polars: {str(exc).splitlines()[0]}") from None
        if writer is not None:
            outcome.files = writer.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        rejects.abort()
        outcome.close()
        raise
    return outcome


def _transcode(source: Path, encoding: str, work: Path) -> Path:
    """Windows-1252 or UTF-16 -> a UTF-8 copy (strict: any undecodable byte -> Ineligible)."""
    target = work / "drop.utf8.csv"
    try:
        with open(source, encoding=encoding, errors="strict", newline="") as src, open(
            target, "w", encoding="utf-8", newline=""
        ) as dst:
            while chunk := src.read(_TRANSCODE_CHUNK):
                dst.write(chunk)
    except UnicodeError as exc:
        raise Ineligible(f"not valid {encoding}: {exc}") from None
    return target


# -- the vectorised rules ----------------------------------------------------------------


def _stages(
    columns: ColumnMap, policy: ValidationPolicy, delimiter: str, prefix: str
) -> tuple[list[dict[str, pl.Expr]], dict[int, tuple[str, ...]], tuple[str, ...]]:
    """The vectorised verdicts as stages of columns: (stages, the columns to drop
    before stage i, the columns kept at the end).

    A line is decided here only when it is plain: nothing `rules.unusual` names, no
    space next to a delimiter or at either end (so no cell needs stripping); the
    others (`ok` false) go to the Validator. Each stage materialises the columns the
    next one reads (an expression used twice would be evaluated twice)."""
    ws = python_whitespace()
    needed = max(i for i in (columns.number, columns.text, columns.correlation_id) if i is not None) + 1
    raw = pl.col("raw")

    def cell(index: int | None) -> pl.Expr:
        if index is None:
            return pl.lit("")
        return pl.col("parts").struct.field(f"field_{index}").fill_null("")

    stages: list[dict[str, pl.Expr]] = []
    spaced = (
        raw.str.starts_with(" ")
        | raw.str.ends_with(" ")
        | raw.str.contains(delimiter + " ", literal=True)
        | raw.str.contains(" " + delimiter, literal=True)
    )
    stages.append({
        "unusual": raw.str.contains(unusual(delimiter)) | (raw.str.len_bytes() > csv.field_size_limit()),
        "spaced": spaced,
        "blank": raw.is_null() | raw.str.contains("^" + char_class(ws + delimiter) + "*$"),
        "parts": raw.str.splitn(delimiter, needed + 1),
    })
    stages.append({"n": cell(columns.number), "t": cell(columns.text), "c": cell(columns.correlation_id)})
    drops: dict[int, tuple[str, ...]] = {len(stages): ("parts",)}
    rule = number_rule(_phone_parts(policy.region))
    stages.extend(_number_stages(rule))
    drops[len(stages)] = ("n", "plus", "d", "cc_start", "digits", "nsn", "nsn_length", "verdict", "i_form", "n_form")
    t = pl.col("t")
    c = pl.col("c")
    text_ok = t.str.len_bytes() > 0
    if policy.transliterate:  # only texts the transliteration leaves as they are
        text_ok &= t.str.contains("^[\\x20-\\x5a\\x5c\\x5e-\\x7b\\x7d\\x7e]*$")
    stages.append({
        "text": t.str.replace_all(";", ",", literal=True),
        "semis": t.str.count_matches(";", literal=True).cast(pl.Int64),
        "text_ok": text_ok,
        "cid_ok": (c.str.len_bytes() <= MAX_CORRELATION_ID_LENGTH)
        & (c.str.len_bytes() == c.str.len_chars())
        & ~c.str.contains(";", literal=True),
        "foreign": c.str.starts_with(prefix),
    })
    text = pl.col("text")
    stages.append({
        "chars": text.str.len_chars().cast(pl.Int64),
        "ascii": text.str.len_bytes() == text.str.len_chars(),
        "brackets": text.str.contains("[\\[\\]|]"),
    })
    ok = pl.col("number_ok") & pl.col("text_ok") & pl.col("cid_ok") & ~pl.col("unusual") & ~pl.col("spaced")
    ok &= pl.col("chars") <= MAX_TEXT_LENGTH
    if policy.on_semicolon == "reject":
        ok &= pl.col("semis") == 0
    units = pl.col("chars")  # no character beyond the BMP in a plain line: UTF-16 units = characters
    gsm = pl.col("ascii") & ~pl.col("brackets")
    stages.append({
        "ok": ok,
        "gsm": gsm,
        "segments": pl.when(gsm)
        .then(pl.when(units <= GSM_SINGLE).then(1).otherwise((units + GSM_MULTI - 1) // GSM_MULTI))
        .otherwise(pl.when(units <= UCS2_SINGLE).then(1).otherwise((units + UCS2_MULTI - 1) // UCS2_MULTI))
        .cast(pl.Int64),
    })
    stages.append({
        "k": _key(pl.col("number"), pl.col("text")),
        "h": _cid_key(c),
        "out": pl.concat_str(
            "number", "text", pl.when(c == "").then(pl.lit(prefix) + pl.col("line").cast(pl.String)).otherwise(c),
            separator=";",
        ) + ";",
        "semicolon": pl.col("semis"),
        "newline": pl.lit(0, pl.Int64),
        "tab": pl.lit(0, pl.Int64),
        "transliterated": pl.lit(0, pl.Int64),
    })
    kept = ("raw", "unusual", "blank", "ok", "foreign", *_CANDIDATE_COLUMNS)
    return stages, drops, kept


def _batches(
    path: Path, first_line: int, columns: ColumnMap, policy: ValidationPolicy, delimiter: str, prefix: str
) -> Iterator[tuple[int, int, int, pl.DataFrame]]:
    """The drop's lines from `first_line` on, in chunks, with every vectorised verdict:
    (first line, byte offset, byte length, frame)."""
    stages, drops, kept = _stages(columns, policy, delimiter, prefix)

    def verdicts(line: int, chunk: bytes) -> pl.DataFrame:
        lf = pl.read_csv(
            chunk,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            infer_schema=False,
            new_columns=["raw"],
            raise_if_empty=False,
            empty_string_is_null=False,
        ).lazy().with_row_index("line", offset=line).with_columns(pl.col("line").cast(pl.Int64))
        for at, stage in enumerate(stages):
            if at in drops:  # what no later stage reads: memory goes back per chunk
                lf = lf.drop(drops[at], strict=False)
            lf = lf.with_columns(**stage)
        return lf.select(kept).collect()

    # the next chunk is computed (polars, without the GIL) while the caller handles
    # this one (duplicates, hard rows, writing: mostly Python)
    with ThreadPoolExecutor(1, thread_name_prefix="batcher-columnar") as pool:
        ahead: Future[pl.DataFrame] | None = None
        at = (0, 0, 0)
        for line, offset, chunk in _chunks(path, first_line):
            following = pool.submit(verdicts, line, chunk)
            if ahead is not None:
                yield (*at, ahead.result())
            ahead, at = following, (line, offset, len(chunk))
        if ahead is not None:
            yield (*at, ahead.result())


def _chunks(path: Path, first_line: int) -> Iterator[tuple[int, int, bytes]]:
    """(number of its first line, byte offset, bytes) of whole lines of `path` from
    `first_line` on, about CHUNK_BYTES at a time (a UTF-8 byte order mark at the very
    start left out)."""
    with path.open("rb") as fh:
        buf = fh.read(3)
        offset = 0
        if buf == codecs.BOM_UTF8:
            buf, offset = b"", 3
        skip = first_line - 1
        at = 0
        while skip:
            found = buf.find(b"\n", at)
            if found < 0:
                data = fh.read(CHUNK_BYTES)
                if not data:
                    raise Ineligible("the reader found its first row further down than the lines go")
                offset += at
                buf, at = buf[at:] + data, 0
                continue
            at = found + 1
            skip -= 1
        offset += at
        buf = buf[at:]
        line = first_line
        while True:
            data = fh.read(CHUNK_BYTES)
            buf += data
            cut = buf.rfind(b"\n") + 1 if data else len(buf)
            if cut:
                part, buf = buf[:cut], buf[cut:]
                yield line, offset, part
                line += part.count(b"\n")
                offset += cut
            if not data:
                return


def _phone_parts(region: str) -> dict[str, Any] | None:
    from ..phones import PhoneNormalizer

    return getattr(PhoneNormalizer(region), "mobile_form_parts", None)


def _number_stages(rule: NumberRule | None) -> list[dict[str, pl.Expr]]:
    """Column stages ending in `number_ok` (the cell `n` is a mobile in a plain or
    punctuated form) and `number` (its normal form)."""
    n = pl.col("n")
    if rule is None:
        return [{"number_ok": pl.lit(False), "number": n}]
    plus = n.str.starts_with("+")
    d = pl.col("d")
    nsn = pl.col("nsn")
    length = pl.col("nsn_length")
    cc_start = pl.col("cc_start")
    verdict = length.is_in(list(rule.lengths)) & nsn.str.contains(rule.general) & nsn.str.contains(rule.accept)
    for lengths, pattern in rule.specials:
        verdict &= ~(length.is_in(list(lengths)) & nsn.str.contains(pattern))
    verdict &= ~nsn.str.starts_with("0")
    if rule.npfp:
        verdict &= ~nsn.str.contains(rule.npfp)
    no_idd = ~d.str.contains(rule.idd) if rule.idd else pl.lit(True)
    plus_ = pl.col("plus")
    i_form = ~plus_ & no_idd & cc_start & (d.str.len_bytes().is_in(list(rule.too_long)) | ~d.str.contains(rule.general))
    n_form = ~plus_ & no_idd & ~cc_start
    return [
        {"plus": plus, "d": pl.when(plus).then(n.str.slice(1)).otherwise(n).str.replace_all("[ ()\\-]", "")},
        {"cc_start": d.str.starts_with(rule.cc), "digits": d.str.contains("^[0-9]+$")},
        {"nsn": pl.when(cc_start).then(d.str.slice(len(rule.cc))).otherwise(d)},
        {"nsn_length": nsn.str.len_bytes()},
        {"verdict": verdict, "i_form": i_form, "n_form": n_form},
        {
            "number_ok": pl.col("digits")
            & pl.col("verdict")
            & (pl.col("i_form") | (plus_ & cc_start) | pl.col("n_form")),
            "number": pl.when(pl.col("n_form")).then(pl.lit(rule.cc) + d).otherwise(d),
        },
    ]


# -- one batch: the hard rows, duplicates, outputs -------------------------------------------


class _Run:
    """The state of one conversion: the hard rows' Validator, the drop-wide duplicate
    tables, the group of rows waiting for their duplicate check, the outputs."""

    def __init__(
        self,
        policy: ValidationPolicy,
        columns: ColumnMap,
        drop_key: str,
        delimiter: str,
        path: Path,
        outcome: Outcome,
        files: _Files | None,
        rejects: Any,
        *,
        buffer: bool,
        keep_rejections: int,
    ) -> None:
        self.validator = Validator(policy, columns, drop_key, remember=False)
        self.columns = columns
        self.delimiter = delimiter
        self.path = path
        self.prefix = f"{drop_key}-"
        self.dedup_rows = not policy.allow_duplicates
        self.outcome = outcome
        self.files = files
        self.rejects = rejects
        self.work = outcome.work
        self.buffer = buffer
        self.keep = keep_rejections
        assert self.work is not None
        self.keys = _FirstSeen(self.work, "keys")
        self.cids = _FirstSeen(self.work, "ids")
        self.group: list[pl.DataFrame] = []  # candidates (passed every row rule), in line order
        self.group_rows = 0
        self.group_refused: list[Rejection] = []
        self.group_cells: dict[int, tuple[str, ...]] = {}  # cells of the hard candidates
        self.chunks: list[tuple[int, int, int]] = []  # (first line, offset, length) of each chunk

    # ---- per chunk

    def chunk(self, first_line: int, offset: int, length: int, df: pl.DataFrame) -> None:
        self.chunks.append((first_line, offset, length))
        df = df.filter(~(pl.col("blank") & ~pl.col("unusual")).fill_null(False))
        if df.height == 0:
            return
        if df.get_column("foreign").any():
            raise Ineligible("a correlationId in the generated namespace")
        easy = df.filter(pl.col("ok"))
        hard = df.filter(~pl.col("ok"))
        candidates = easy.select(_CANDIDATE_COLUMNS)
        if hard.height:
            refused, rows, blank = self._hard(hard)
            self.outcome.rows_read += hard.height - blank
            self.group_refused.extend(refused)
            if rows:
                decided = pl.DataFrame(rows, schema=_HARD_SCHEMA, orient="row", strict=False).select(
                    pl.col("line").cast(pl.Int64),
                    _key(pl.col("number"), pl.col("text")).alias("k"),
                    _cid_key(pl.col("cid")).alias("h"),
                    "out", "gsm", "segments", "semicolon", "newline", "tab", "transliterated",
                )
                candidates = pl.concat([candidates, decided]).sort("line")
        self.outcome.rows_read += easy.height
        self.group.append(candidates)
        self.group_rows += candidates.height
        if self.group_rows >= GROUP_ROWS:
            self.flush()

    def _hard(self, hard: pl.DataFrame) -> tuple[list[Rejection], list[tuple[Any, ...]], int]:
        """The row path's Validator on each row the expressions left undecided:
        (its refusals, its candidates as rows of _HARD_SCHEMA, blank records skipped)."""
        refused: list[Rejection] = []
        rows: list[tuple[Any, ...]] = []
        blank = 0
        check = self.validator.check
        counts = self.validator.replacements
        delimiter = self.delimiter
        cid_i = self.columns.correlation_id
        prefix = self.prefix
        limit = csv.field_size_limit()
        for line, raw, odd in zip(
            hard.get_column("line").to_list(), hard.get_column("raw").to_list(), hard.get_column("unusual").to_list(),
            strict=True,
        ):
            if odd:
                if "\r" in raw or "\x00" in raw or len(raw) > limit:
                    raise Ineligible(f"line {line}: a lone CR, a NUL, or longer than the csv field limit")
                cells = _cells(raw, delimiter, line)
                if not "".join(cells).strip():  # the reader skips it: not a row
                    blank += 1
                    continue
            else:
                cells = tuple(raw.split(delimiter))
            cid = cells[cid_i].strip() if cid_i is not None and cid_i < len(cells) else ""
            if cid.startswith(prefix):
                raise Ineligible("a correlationId in the generated namespace")
            result = check(RawRow(line, cells))
            if type(result) is Rejection:
                refused.append(result)
                continue
            assert type(result) is Message
            self.group_cells[line] = cells
            made = {"newline": 0, "tab": 0, "semicolon": 0, "transliterated": 0}
            if counts:  # the replacements this row made (the Validator only adds them up)
                made.update(counts)
                counts.clear()
            rows.append((
                line, result.number, result.text, cid, render_line(result), result.encoding == "GSM",
                result.segments, made["semicolon"], made["newline"], made["tab"], made["transliterated"],
            ))
        return refused, rows, blank

    # ---- per group: duplicates, then the outputs

    def flush(self) -> None:
        if not self.group and not self.group_refused:
            return
        cand = pl.concat(self.group) if self.group else pl.DataFrame(schema=_CANDIDATE_SCHEMA)
        accepted, dup_refused = self._dedup(cand)
        refused = self.group_refused + dup_refused
        refused.sort(key=lambda r: r.line)
        self.group, self.group_rows, self.group_refused, self.group_cells = [], 0, [], {}
        self._refuse(refused)
        self._accept(accepted)

    def _dedup(self, cand: pl.DataFrame) -> tuple[pl.DataFrame, list[Rejection]]:
        """The row path's duplicate rules over the whole drop: a correlationId already
        accepted, then a (number, text) already accepted, each naming the first line.
        Only rows whose key or id was seen before, or comes twice here, replay the
        rules one by one; the others are accepted as they are."""
        if cand.height == 0:
            return cand, []
        k = cand.get_column("k")
        h = cand.get_column("h")
        hit_h = self.cids.lookup(h)
        involved = hit_h.is_not_null() | (h.is_duplicated() & h.is_not_null())
        if self.dedup_rows:
            hit_k = self.keys.lookup(k)
            involved = involved | hit_k.is_not_null() | k.is_duplicated()
        else:
            hit_k = pl.Series("first", [None] * cand.height, pl.UInt32)
        refused: list[Rejection] = []
        if involved.any():
            keep = [True] * cand.height
            picked = cand.with_columns(hk=hit_k, hh=hit_h, i=pl.int_range(cand.height)).filter(involved)
            lines = picked.get_column("line").to_list()
            cells = self._cells_at(lines)
            first_k: dict[int, int] = {}
            first_h: dict[int, int] = {}
            for i, line, key, cid_key, hk, hh, out in picked.select(
                "i", "line", "k", "h", "hk", "hh", "out"
            ).iter_rows():
                if cid_key is not None:
                    first = hh if hh is not None else first_h.get(cid_key)
                    if first is not None:
                        cid = out.split(";")[2]
                        refused.append(_refusal(
                            line, RejectCode.CORRELATION_ID_DUPLICATE, cells[line], value=show_value(cid), first=first,
                        ))
                        keep[i] = False
                        continue
                if self.dedup_rows:
                    first = hk if hk is not None else first_k.get(key)
                    if first is not None:
                        refused.append(_refusal(line, RejectCode.DUPLICATE_ROW, cells[line], first=first))
                        keep[i] = False
                        continue
                    first_k[key] = line
                if cid_key is not None:
                    first_h[cid_key] = line
            cand = cand.filter(pl.Series(keep))
        if self.dedup_rows:
            self.keys.add(cand.get_column("k"), cand.get_column("line"))
        with_cid = cand.filter(pl.col("h").is_not_null())
        self.cids.add(with_cid.get_column("h"), with_cid.get_column("line"))
        return cand, refused

    def _cells_at(self, lines: list[int]) -> dict[int, tuple[str, ...]]:
        """The cells of these lines: kept for the hard rows, read again for the others
        (only lines whose key was seen before get here)."""
        found = {line: self.group_cells[line] for line in lines if line in self.group_cells}
        wanted = sorted(set(lines) - found.keys())
        if not wanted:
            return found
        with self.path.open("rb") as fh:
            bounds = [first for first, _, _ in self.chunks[1:]] + [1 << 62]
            for (first, offset, length), end in zip(self.chunks, bounds, strict=True):
                inside = [w for w in wanted if first <= w < end]
                if not inside:
                    continue
                fh.seek(offset)
                text = fh.read(length).decode("utf-8").split("\n")
                for w in inside:
                    raw = text[w - first]
                    found[w] = _cells(raw[:-1] if raw.endswith("\r") else raw, self.delimiter, w)
        return found

    def _refuse(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        outcome = self.outcome
        for rej in rejections:
            outcome.rejected[rej.code] += 1
            self.rejects.write(rej)
        room = self.keep - len(outcome.first_rejections)
        if room > 0:
            outcome.first_rejections.extend(rejections[:room])
        if self.buffer:
            assert self.work is not None
            saved = self.work / f"refused-{len(outcome.saved_rejections)}.pickle"
            with saved.open("wb") as fh:
                pickle.dump(rejections, fh, protocol=pickle.HIGHEST_PROTOCOL)
            outcome.saved_rejections.append(saved)

    def _accept(self, cand: pl.DataFrame) -> None:
        if cand.height == 0:
            return
        outcome = self.outcome
        outcome.accepted += cand.height
        sums = cand.select(
            gsm=pl.col("gsm").sum(),
            gsm_segments=pl.col("segments").filter(pl.col("gsm")).sum(),
            ucs2_segments=pl.col("segments").filter(~pl.col("gsm")).sum(),
            newline=pl.col("newline").sum(),
            tab=pl.col("tab").sum(),
            semicolon=pl.col("semicolon").sum(),
            transliterated=pl.col("transliterated").sum(),
        ).row(0, named=True)
        gsm_count = int(sums["gsm"])
        for encoding, count, segments in (
            ("GSM", gsm_count, sums["gsm_segments"]), ("UCS-2", cand.height - gsm_count, sums["ucs2_segments"])
        ):
            if count:
                outcome.messages_by_encoding[encoding] += count
                outcome.segments_by_encoding[encoding] += int(segments)
        for name in ("newline", "tab", "semicolon", "transliterated"):
            if sums[name]:
                outcome.replacements[name] += int(sums[name])
        parts = self.files.write(cand) if self.files is not None else [(0, cand)]
        if self.buffer:
            for index, part in parts:
                self._save(index, part)
        else:
            for _ in parts:
                pass

    def _save(self, index: int, part: pl.DataFrame) -> None:
        assert self.work is not None
        fields = pl.col("out").str.splitn(";", 4)
        columns = part.select(
            "line",
            fields.struct.field("field_0").alias("number"),
            fields.struct.field("field_1").alias("text"),
            fields.struct.field("field_2").alias("cid"),
            pl.when(pl.col("gsm")).then(pl.lit("GSM")).otherwise(pl.lit("UCS-2")).alias("encoding"),
            "segments",
        )
        saved = self.work / f"accepted-{len(self.outcome.saved)}.arrow"
        columns.write_ipc(saved)
        self.outcome.saved.append((index, saved))


def _cells(raw: str, delimiter: str, line: int) -> tuple[str, ...]:
    """A line's cells as the csv module reads them, when the record ends on that line."""
    if '"' not in raw:
        return tuple(raw.split(delimiter))
    records = list(csv.reader([raw + "\n"], delimiter=delimiter))
    if len(records) != 1 or any("\n" in c for c in records[0]):
        raise Ineligible(f"line {line}: a quoted field runs past the end of its line")
    return tuple(records[0])


def _refusal(line: int, code: RejectCode, cells: tuple[str, ...], **values: object) -> Rejection:
    return Rejection(line, code.value, REASONS[code].format(**values), cells)


def _key(number: pl.Expr, text: pl.Expr) -> pl.Expr:
    """The duplicate-row key: a 64-bit hash of (number, text) as written."""
    return pl.struct(number.alias("n"), text.alias("t")).hash(_SEED)


def _cid_key(cid: pl.Expr) -> pl.Expr:
    """The correlationId key (null when the row has none and gets a generated one)."""
    return pl.when(cid != "").then(cid.hash(_SEED))


_CANDIDATE_COLUMNS = (
    "line", "k", "h", "out", "gsm", "segments", "semicolon", "newline", "tab", "transliterated",
)
_CANDIDATE_SCHEMA = {
    "line": pl.Int64, "k": pl.UInt64, "h": pl.UInt64, "out": pl.String, "gsm": pl.Boolean, "segments": pl.Int64,
    "semicolon": pl.Int64, "newline": pl.Int64, "tab": pl.Int64, "transliterated": pl.Int64,
}
_HARD_SCHEMA = {
    "line": pl.Int64, "number": pl.String, "text": pl.String, "cid": pl.String, "out": pl.String,
    "gsm": pl.Boolean, "segments": pl.Int64, "semicolon": pl.Int64, "newline": pl.Int64, "tab": pl.Int64,
    "transliterated": pl.Int64,
}


class _FirstSeen:
    """64-bit keys -> the line where each was first accepted, in 12 bytes a key: the
    recent ones in memory, every SPILL_KEYS of them moved to a file, so memory stays
    flat however long the drop. A lookup (one per group of rows) probes each stored
    key against the group's keys (`is_in`), reading the files back one at a time."""

    def __init__(self, work: Path, name: str) -> None:
        self.work = work
        self.name = name
        self.recent: list[pl.DataFrame] = []
        self.recent_rows = 0
        self.files: list[Path] = []

    def lookup(self, keys: pl.Series) -> pl.Series:
        """The first line of each key (null: never seen)."""
        if not self.recent and not self.files:
            return pl.Series("first", [None] * len(keys), pl.UInt32)
        none = pl.Series("first", [None] * len(keys), pl.UInt32)
        wanted = keys.drop_nulls()
        if wanted.is_empty():
            return none
        found = pl.col("k").is_in(wanted.implode())
        hits = [pl.concat(self.recent, rechunk=False).filter(found)] if self.recent else []
        hits += [pl.read_ipc(path.read_bytes()).filter(found) for path in self.files]
        hit = pl.concat(hits)
        if hit.is_empty():  # the common case: no key of the group seen before
            return none
        return (
            pl.DataFrame({"k": keys})
            .join(hit, on="k", how="left", maintain_order="left")
            .get_column("line")
            .alias("first")
        )

    def add(self, keys: pl.Series, lines: pl.Series) -> None:
        if len(keys) == 0:
            return
        self.recent.append(pl.DataFrame({"k": keys, "line": lines.cast(pl.UInt32)}))
        self.recent_rows += len(keys)
        if self.recent_rows >= SPILL_KEYS:
            path = self.work / f"{self.name}-{len(self.files)}.arrow"
            pl.concat(self.recent).write_ipc(path)
            self.files.append(path)
            self.recent, self.recent_rows = [], 0


class _Files:
    """Platform files under temporary names, `max_rows` messages each; named later."""

    def __init__(self, out_dir: Path, layout: FileLayout, max_rows: int, work: Path) -> None:
        self.out_dir = out_dir
        self.layout = layout
        self.nl = layout.line_ending
        self.max_rows = max_rows
        self.tag = work.name
        self.done: list[tuple[Path, int]] = []
        self.fh: IO[bytes] | None = None
        self.tmp: Path | None = None
        self.room = 0
        out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, done: pl.DataFrame) -> Iterator[tuple[int, pl.DataFrame]]:
        lines = done.select("out")
        start = 0
        while start < done.height:
            if self.room == 0:
                self._next()
            assert self.fh is not None
            take = min(self.room, done.height - start)
            lines.slice(start, take).write_csv(
                self.fh, include_header=False, quote_style="never", separator="\x1f", line_terminator=self.nl
            )
            self.room -= take
            yield len(self.done), done.slice(start, take)
            start += take

    def _next(self) -> None:
        if self.fh is not None:
            self._close()
        self.tmp = self.out_dir / f".{self.tag}.{len(self.done)}.tmp"
        self.fh = self.tmp.open("xb")
        self.room = self.max_rows
        if self.layout.header:
            self.fh.write((HEADER_LINE + self.nl).encode())

    def _close(self) -> None:
        assert self.fh is not None and self.tmp is not None
        if self.layout.eof_marker:
            self.fh.write((EOF_LINE + self.nl).encode())
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        self.done.append((self.tmp, self.max_rows - self.room))
        self.fh = None

    def finish(self) -> list[tuple[Path, int]]:
        if self.fh is not None:
            self._close()
        return self.done

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        for path, _ in self.done:
            path.unlink(missing_ok=True)
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def number_verdicts(region: str, cells: list[str]) -> list[str | None]:
    """The vectorised number rule alone, for tests: each cell's normal form when the
    rule accepts it, else None (the row path decides)."""
    frame = pl.DataFrame({"n": cells}, schema={"n": pl.String}).lazy()
    for stage in _number_stages(number_rule(_phone_parts(region))):
        frame = frame.with_columns(**stage)
    out = frame.select(pl.when(pl.col("number_ok")).then(pl.col("number"))).collect()
    return out.to_series().to_list()
