"""A drop's rows once the verdicts are in: the hard rows, duplicates across the whole
drop, and the outputs, in bounded memory.

`Drop` takes batches in line order: the candidates the expressions decided, rendered
(`render`: a side table of keys, sizes and counts, and the platform lines as bytes),
and the hard rows, which go to the row path's own `Validator` (built with
`remember=False`: it judges each row alone). While the drop is read, every
candidate's line goes straight to the platform files (split at `max_rows_per_file`,
SHA-256 taken as they are written), as if none were a duplicate, and its side row to
a table on disk (`GROUP_ROWS` rows a file). Then:

1. duplicates: the rows whose correlationId key or (number, text) key occurs more
   than once among all candidates are found with one sort per key (in partitions of
   `DEDUP_ROWS` keys, so that memory stays flat), and only those rows replay the row
   path's sequential rule (a correlationId already accepted, then a (number, text)
   already accepted, each naming the first line);
2. when some were refused, the files from the first one holding a refused line on
   are written again from the first writing, without those lines (the cut points
   move); the files before it stay as they are;
3. the counts of the summary come from the side tables, and the refused rows, merged
   in line order, go to the rejected-rows writer.

With `buffer`, what a sink will receive is read back from the files and the side
tables (`Outcome.replay`). Nothing here reads the input; the cells of a refused
duplicate come from `cells_of`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import math
import os
import pickle
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from ..models import ColumnMap, Message, RawRow, Rejection
from ..phones import show_value
from ..render import EOF_LINE, HEADER_LINE, FileLayout, render_line
from ..validate import REASONS, RejectCode, ValidationPolicy, Validator
from . import Ineligible
from .verdicts import keys

__all__ = ["DEDUP_ROWS", "GROUP_ROWS", "Drop", "Files", "Outcome", "OutputFile", "render"]

#: candidates whose side rows are one file on disk
GROUP_ROWS = 100_000
#: keys checked for repeats at once (a partition of the drop's keys by hash)
DEDUP_ROWS = 2_000_000
#: bytes copied at a time when files are written again
COPY_BYTES = 4 << 20
#: pieces written and not hashed yet, at most
HASH_BEHIND = 3

#: receives, once the drop is complete, each file's accepted messages as columns
#: (file index, line, number, text, correlationId, encoding, segments) and refused rows
AcceptedSink = Callable[[int, list[int], list[str], list[str], list[str], list[str], list[int]], None]
RefusedSink = Callable[[list[Rejection]], None]


@dataclass(frozen=True)
class OutputFile:
    """A finished platform file under its temporary name."""

    path: Path
    rows: int
    size: int
    sha256: str


@dataclass
class Outcome:
    """What the engine produced; `convert_drop` copies it into its summary."""

    kind: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None = None
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    replacements: Counter[str] = field(default_factory=Counter)
    messages_by_encoding: Counter[str] = field(default_factory=Counter)
    segments_by_encoding: Counter[str] = field(default_factory=Counter)
    first_rejections: list[Rejection] = field(default_factory=list)
    #: closed temporary platform files, in order (a dry run has none)
    files: list[OutputFile] = field(default_factory=list)
    #: where the caller moved each of `files` (for `replay`)
    named: list[Path] = field(default_factory=list)
    work: Path | None = None
    columns: ColumnMap | None = None  # the row path's column map, for the summary and the sink
    rejects: Any = None
    #: for `replay`: each file's lines (a dry run keeps them in `work`), whether they
    #: start with a header line, and the (line, gsm, segments) of its messages
    lines: list[Path] = field(default_factory=list)
    header: bool = False
    saved: list[tuple[int, Path, int]] = field(default_factory=list)  # (file, table, messages before)
    saved_rejections: list[Path] = field(default_factory=list)

    def replay(self, accepted: AcceptedSink | None, refused: RefusedSink | None) -> None:
        """Hand the buffered rows to the sinks: each file's messages in line order, as
        columns, then the refused rows in batches."""
        if accepted is not None:
            sources = self.named or self.lines
            for index, saved, before in self.saved:
                side = pl.read_ipc(saved)
                fields = pl.read_csv(
                    sources[index], has_header=False, separator=";", quote_char=None, infer_schema=False,
                    new_columns=["number", "text", "cid", "end"], raise_if_empty=False, empty_string_is_null=False,
                    skip_lines=before + (1 if self.header else 0), n_rows=side.height,
                )
                accepted(
                    index,
                    side.get_column("line").to_list(),
                    fields.get_column("number").to_list(),
                    fields.get_column("text").to_list(),
                    fields.get_column("cid").to_list(),
                    side.select(pl.when(pl.col("gsm")).then(pl.lit("GSM")).otherwise(pl.lit("UCS-2")))
                    .to_series().to_list(),
                    side.get_column("segments").to_list(),
                )
        if refused is not None:
            for saved in self.saved_rejections:
                with saved.open("rb") as fh:
                    refused(pickle.load(fh))  # our own file, written by Drop

    def close(self) -> None:
        """Remove the buffers and any temporary file not renamed."""
        for output in self.files:
            output.path.unlink(missing_ok=True)
        if self.work is not None:
            for path in self.work.iterdir():
                path.unlink(missing_ok=True)
            self.work.rmdir()
            self.work = None


@dataclass
class _Group:
    side: Path
    rows: int
    refused: Path | None


class Drop:
    """The state of one conversion between the verdicts and the outputs."""

    def __init__(
        self,
        policy: ValidationPolicy,
        columns: ColumnMap,
        drop_key: str,
        outcome: Outcome,
        out_dir: Path | None,
        *,
        layout: FileLayout,
        max_rows: int,
        cells_of: Callable[[list[int]], dict[int, tuple[str, ...]]],
        buffer: bool,
        keep_rejections: int,
    ) -> None:
        assert outcome.work is not None
        self.validator = Validator(policy, columns, drop_key, remember=False)
        self.cid_i = columns.correlation_id
        self.prefix = f"{drop_key}-"
        self.dedup_rows = not policy.allow_duplicates
        self.outcome = outcome
        self.work = outcome.work
        if out_dir is None:  # a dry run: the lines are kept only for the sink
            layout = FileLayout(line_ending=layout.line_ending, header=False, eof_marker=False)
        self.layout = layout
        self.nl = layout.line_ending
        self.files: Files | None = (
            Files(out_dir if out_dir is not None else self.work, layout, self.work.name)
            if out_dir is not None or buffer else None
        )
        self.dry = out_dir is None
        self.max_rows = max_rows
        self.taken = 0  # candidates written so far
        self.cells_of = cells_of
        self.buffer = buffer
        self.keep = keep_rejections
        self.groups: list[_Group] = []
        self.pending: list[pl.DataFrame] = []  # side rows of the group being filled, in line order
        self.pending_rows = 0
        self.pending_refused: list[Rejection] = []

    # ---- batches in line order

    def add(self, side: pl.DataFrame, lines: bytes, refused: list[Rejection]) -> None:
        """A batch: its candidates as `render(candidates)` gives them (the side table,
        the platform lines), and the rows it refused, each in line order."""
        if side.height:
            if self.files is not None:
                self._write(side, lines)
            self.taken += side.height
            self.pending.append(side)
            self.pending_rows += side.height
        self.pending_refused.extend(refused)
        if self.pending_rows >= GROUP_ROWS:
            self._spill()

    def _write(self, side: pl.DataFrame, lines: bytes) -> None:
        """A batch's lines into the files as first written, cut where a file fills."""
        assert self.files is not None
        at, start, taken = 0, 0, self.taken
        ends: pl.Series | None = None
        while at < side.height:
            take = min(self.max_rows - taken % self.max_rows, side.height - at)
            if at == 0 and take == side.height:
                self.files.write(taken // self.max_rows, lines, take)  # the usual case: no cut
                return
            ends = ends if ends is not None else side.get_column("size").cum_sum()
            end = ends[at + take - 1]
            self.files.write(taken // self.max_rows, lines[start:end], take)
            at, start, taken = at + take, end, taken + take

    def decide(self, rows: Iterable[tuple[int, tuple[str, ...]]]) -> tuple[pl.DataFrame, list[Rejection]]:
        """The row path's Validator on rows the expressions left undecided: (the
        candidates, in CANDIDATE_SCHEMA, the refusals), both in line order."""
        refused: list[Rejection] = []
        decided: list[tuple[Any, ...]] = []
        check = self.validator.check
        counts = self.validator.replacements
        cid_i = self.cid_i
        prefix = self.prefix
        for line, cells in rows:
            cid = cells[cid_i].strip() if cid_i is not None and cid_i < len(cells) else ""
            if cid.startswith(prefix):
                raise Ineligible("a correlationId in the generated namespace")
            result = check(RawRow(line, cells))
            if type(result) is Rejection:
                refused.append(result)
                continue
            assert type(result) is Message
            made = {"newline": 0, "tab": 0, "semicolon": 0, "transliterated": 0}
            if counts:  # the replacements this row made (the Validator only adds them up)
                made.update(counts)
                counts.clear()
            render_line(result)  # its checks: a field that would corrupt the line is a bug, never output
            decided.append((
                line, result.number, result.text, cid, result.correlation_id, result.encoding == "GSM",
                result.segments, made["semicolon"], made["newline"], made["tab"], made["transliterated"],
            ))
        frame = pl.DataFrame(decided, schema=_DECIDED_SCHEMA, orient="row")
        return frame.select(
            "line", **keys(pl.col("number"), pl.col("text"), pl.col("given")), number=pl.col("number"),
            text=pl.col("text"), cid=pl.col("cid"), gsm=pl.col("gsm"), segments=pl.col("segments"),
            semicolon=pl.col("semicolon"), newline=pl.col("newline"), tab=pl.col("tab"),
            transliterated=pl.col("transliterated"),
        ), refused

    def _spill(self) -> None:
        if not self.pending and not self.pending_refused:
            return
        index = len(self.groups)
        side = pl.concat(self.pending) if self.pending else pl.DataFrame(schema=_SIDE_SCHEMA)
        path = self.work / f"side-{index}.arrow"
        side.write_ipc(path)
        refused_path = None
        if self.pending_refused:
            refused_path = self.work / f"refused-{index}.pickle"
            with refused_path.open("wb") as fh:
                pickle.dump(self.pending_refused, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.groups.append(_Group(path, side.height, refused_path))
        self.pending, self.pending_rows, self.pending_refused = [], 0, []

    def abort(self) -> None:
        if self.files is not None:
            self.files.abort()

    # ---- at the end: duplicates, the files again if needed, counts and refusals

    def finish(self) -> None:
        self._spill()
        written = self.files.finish() if self.files is not None else []
        dups = self._duplicates()
        gone = pl.Series("line", sorted(dups), dtype=pl.Int64).implode()
        first = min(self._files_of(gone)) if dups and written else None
        again = Files(written[0].path.parent, self.layout, f"{self.work.name}.2", first) if first is not None else None
        header = len(HEADER_LINE) + len(self.layout.line_ending) if self.layout.header else 0
        sources: dict[int, IO[bytes]] = {}
        carry: dict[int, int] = {}  # per old file: where its next line starts
        base = kept = 0  # candidates, accepted rows before this group
        try:
            for group in self.groups:
                refused: list[Rejection] = []
                if group.refused is not None:
                    with group.refused.open("rb") as fh:
                        refused = pickle.load(fh)  # our own file, written by _spill
                side = pl.read_ipc(group.side, columns=_COUNTED).with_columns(
                    old=(pl.int_range(pl.len(), dtype=pl.Int64) + base) // self.max_rows,
                    drop=pl.col("line").is_in(gone) if dups else pl.lit(False),
                )
                base += group.rows
                if dups:
                    lines = side.filter(pl.col("drop")).get_column("line").to_list()
                    refused = sorted(refused + [dups[line] for line in lines], key=lambda r: r.line)
                if again is not None:
                    self._copy_again(side, again, sources, carry, header, kept)
                accepted = side.filter(~pl.col("drop"))
                self._refuse(refused)
                self._count(accepted)
                if self.buffer and accepted.height:
                    self._save(accepted, kept)
                kept += accepted.height
        except BaseException:
            if again is not None:
                again.abort()
            raise
        finally:
            for src in sources.values():
                src.close()
        if again is not None and first is not None:
            for output in written[first:]:
                output.path.unlink()
            written = written[:first] + again.finish()
        self.outcome.lines = [output.path for output in written]
        self.outcome.header = self.layout.header
        if not self.dry:
            self.outcome.files = written  # from here on, `Outcome.close` removes what is not named
            for output in written:  # durable before the caller names them
                _fsync(output.path)

    def _files_of(self, lines: pl.Series) -> Iterator[int]:
        """The files (as first written) that hold these lines."""
        base = 0
        for group in self.groups:
            found = pl.read_ipc(group.side, columns=["line"]).with_row_index("i").filter(pl.col("line").is_in(lines))
            for i in found.get_column("i").to_list():
                yield (base + i) // self.max_rows
            base += group.rows

    def _copy_again(
        self, side: pl.DataFrame, again: Files, sources: dict[int, IO[bytes]], carry: dict[int, int], header: int,
        kept: int,
    ) -> None:
        """The group's accepted lines that were first written to files `again.first`...
        copied from there into the new files, cut where a file fills. `carry`: per old
        file, where the next line starts in it."""
        assert self.files is not None and again.first is not None
        later = side.select("size", "old", "drop").filter(pl.col("old") >= again.first)
        if later.height == 0:
            return
        ends = later.get_column("size").cum_sum()  # where each line ends, counted from the first here
        old_of, drop_of = later.get_column("old"), later.get_column("drop")
        marks = ((old_of != old_of.shift(1)) | (drop_of != drop_of.shift(1))).fill_null(True).arg_true().to_list()
        # the rows before `later` in this group are in files before the first refused line: all accepted
        ordinal = kept + side.height - later.height
        base: dict[int, int] = {}  # per old file: its byte offset of the first line here, less `ends` before it
        for a, b in zip(marks, [*marks[1:], later.height], strict=True):
            old = int(old_of[a])
            before = int(ends[a - 1]) if a else 0
            if old not in base:
                base[old] = carry.get(old, header) - before
            carry[old] = base[old] + int(ends[b - 1])
            if drop_of[a]:
                continue
            at = a
            while at < b:  # cut where a new file fills
                take = min(b - at, self.max_rows - ordinal % self.max_rows)
                start = base[old] + (int(ends[at - 1]) if at else 0)
                end = base[old] + int(ends[at + take - 1])
                self._copy(again, sources, old, ordinal // self.max_rows, start, end, take)
                ordinal += take
                at += take

    def _copy(self, again: Files, sources: dict[int, IO[bytes]], old: int, new: int, start: int, end: int,
              rows: int) -> None:
        assert self.files is not None
        if old not in sources:
            sources[old] = self.files.done[old].path.open("rb")
        src = sources[old]
        src.seek(start)
        while start < end:  # in pieces: memory stays flat
            piece = src.read(min(COPY_BYTES, end - start))
            start += len(piece)
            again.write(new, piece, rows if start == end else 0)

    def _save(self, accepted: pl.DataFrame, kept: int) -> None:
        """For the sink: the group's messages' (line, gsm, segments), per final file,
        with the number of messages of that file before them."""
        numbered = accepted.select("line", "gsm", "segments").with_columns(
            n=pl.int_range(pl.len(), dtype=pl.Int64) + kept
        ).with_columns(file=pl.col("n") // self.max_rows)
        for (index,), part in numbered.partition_by("file", maintain_order=True, as_dict=True).items():
            saved = self.work / f"sink-{len(self.outcome.saved)}.arrow"
            part.select("line", "gsm", "segments").write_ipc(saved)
            before = int(part.item(0, "n")) - int(index) * self.max_rows
            self.outcome.saved.append((int(index), saved, before))

    def _duplicates(self) -> dict[int, Rejection]:
        """The rows refused as duplicates, by line."""
        involved = self._involved()
        if involved is None:
            return {}
        first_k: dict[int, int] = {}
        first_h: dict[int, int] = {}
        dedup_rows = self.dedup_rows
        found: list[tuple[int, RejectCode, int]] = []  # (line, code, first line)
        for group in self.groups:
            picked = pl.read_ipc(group.side, columns=["line", "k", "h"]).filter(pl.col("line").is_in(involved))
            for line, key, cid_key in picked.iter_rows():
                if cid_key is not None and (first := first_h.get(cid_key)) is not None:
                    found.append((line, RejectCode.CORRELATION_ID_DUPLICATE, first))
                    continue
                if dedup_rows:
                    if (first := first_k.get(key)) is not None:
                        found.append((line, RejectCode.DUPLICATE_ROW, first))
                        continue
                    first_k[key] = line
                if cid_key is not None:
                    first_h[cid_key] = line
        if not found:
            return {}
        cells = self.cells_of([line for line, _, _ in found])
        refused: dict[int, Rejection] = {}
        for line, code, first in found:
            if code is RejectCode.CORRELATION_ID_DUPLICATE:
                assert self.cid_i is not None
                cid = cells[line][self.cid_i].strip()  # a given id is written as it was, stripped
                refused[line] = _refusal(line, code, cells[line], value=show_value(cid), first=first)
            else:
                refused[line] = _refusal(line, code, cells[line], first=first)
        return refused

    def _involved(self) -> pl.Series | None:
        """The lines of candidates whose correlationId key, or (number, text) key, some
        other candidate shares, as an `is_in` operand (None: no such line)."""
        total = sum(g.rows for g in self.groups)
        if total < 2:
            return None
        found: list[pl.Series] = []
        for name in ("h", "k") if self.dedup_rows else ("h",):
            parts = max(1, math.ceil(total / DEDUP_ROWS))
            key = pl.col(name)
            for part in range(parts):
                inside = key.is_not_null() if parts == 1 else key.is_not_null() & (key % parts == part)
                values = pl.concat(
                    [pl.read_ipc(g.side, columns=[name]).filter(inside).get_column(name) for g in self.groups]
                ).sort()
                repeated = values.filter(values == values.shift(1))
                if repeated.len():
                    wanted = repeated.unique().implode()
                    found.extend(
                        pl.read_ipc(g.side, columns=["line", name]).filter(key.is_in(wanted)).get_column("line")
                        for g in self.groups
                    )
        if not found:
            return None
        lines = pl.concat(found).unique()
        return lines.implode() if len(lines) else None

    def _refuse(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        outcome = self.outcome
        for rej in rejections:
            outcome.rejected[rej.code] += 1
            outcome.rejects.write(rej)
        room = self.keep - len(outcome.first_rejections)
        if room > 0:
            outcome.first_rejections.extend(rejections[:room])
        if self.buffer:
            saved = self.work / f"sink-refused-{len(outcome.saved_rejections)}.pickle"
            with saved.open("wb") as fh:
                pickle.dump(rejections, fh, protocol=pickle.HIGHEST_PROTOCOL)
            outcome.saved_rejections.append(saved)

    def _count(self, side: pl.DataFrame) -> None:
        if side.height == 0:
            return
        outcome = self.outcome
        outcome.accepted += side.height
        sums = side.select(
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
            ("GSM", gsm_count, sums["gsm_segments"]), ("UCS-2", side.height - gsm_count, sums["ucs2_segments"])
        ):
            if count:
                outcome.messages_by_encoding[encoding] += count
                outcome.segments_by_encoding[encoding] += int(segments)
        for name in ("newline", "tab", "semicolon", "transliterated"):
            if sums[name]:
                outcome.replacements[name] += int(sums[name])


def render(candidates: pl.DataFrame, nl: str) -> tuple[pl.DataFrame, bytes]:
    """Candidates (CANDIDATE_SCHEMA) -> their side table and their platform lines
    (``number;text;correlationId;``: the fields hold no ';', no quote is needed)."""
    buf = io.BytesIO()
    candidates.select("number", "text", "cid", end=pl.lit("")).write_csv(
        buf, include_header=False, quote_style="never", separator=";", line_terminator=nl
    )
    size = sum(pl.col(name).str.len_bytes().cast(pl.Int64) for name in ("number", "text", "cid")) + 3 + len(nl)
    side = candidates.select(
        "line", "k", "h", size=size, gsm=pl.col("gsm"),
        segments=pl.col("segments"), semicolon=pl.col("semicolon"), newline=pl.col("newline"),
        tab=pl.col("tab"), transliterated=pl.col("transliterated"),
    )
    return side, buf.getvalue()


class Files:
    """Platform files under temporary names, named later; the SHA-256 of each is taken
    in a worker thread while it is written."""

    def __init__(self, out_dir: Path, layout: FileLayout, tag: str, first: int = 0) -> None:
        self.out_dir = out_dir
        self.layout = layout
        self.nl = layout.line_ending
        self.tag = tag
        self.done: list[OutputFile] = []
        self.fh: IO[bytes] | None = None
        self.tmp: Path | None = None
        self.digest: Any = None
        self.size = 0
        self.rows = 0
        self.first = first  # the index of the first file written here
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batcher-sha256")
        self.hashing: collections.deque[Future[None]] = collections.deque()
        out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, index: int, lines: bytes, rows: int) -> None:
        """Append `rows` platform lines to file `index` (the next one, or the open one)."""
        while self.first + len(self.done) + (self.fh is not None) <= index:
            self._next()
        self._put(lines)
        self.rows += rows

    def _put(self, data: bytes) -> None:
        """Write `data`; its hash is taken by the worker, in order, a few pieces behind."""
        assert self.fh is not None
        self.hashing.append(self.pool.submit(self.digest.update, data))
        self.fh.write(data)
        self.size += len(data)
        while len(self.hashing) > HASH_BEHIND:
            self.hashing.popleft().result()

    def _next(self) -> None:
        if self.fh is not None:
            self._close()
        self.tmp = self.out_dir / f".{self.tag}.{len(self.done)}.tmp"
        self.fh = self.tmp.open("xb")
        self.digest = hashlib.sha256()
        self.size = self.rows = 0
        if self.layout.header:
            self._put((HEADER_LINE + self.nl).encode())

    def _close(self) -> None:
        assert self.fh is not None and self.tmp is not None
        if self.layout.eof_marker:
            self._put((EOF_LINE + self.nl).encode())
        while self.hashing:
            self.hashing.popleft().result()
        self.fh.close()  # made durable by the caller once it is known to be final (`_fsync`)
        self.done.append(OutputFile(self.tmp, self.rows, self.size, self.digest.hexdigest()))
        self.fh = None

    def finish(self) -> list[OutputFile]:
        if self.fh is not None:
            self._close()
        self.pool.shutdown()
        return self.done

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        self.hashing.clear()
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        for output in self.done:
            output.path.unlink(missing_ok=True)
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refusal(line: int, code: RejectCode, cells: tuple[str, ...], **values: object) -> Rejection:
    return Rejection(line, code.value, REASONS[code].format(**values), cells)


_DECIDED_SCHEMA = {
    "line": pl.Int64, "number": pl.String, "text": pl.String, "given": pl.String, "cid": pl.String,
    "gsm": pl.Boolean, "segments": pl.Int32, "semicolon": pl.Int32, "newline": pl.Int32, "tab": pl.Int32,
    "transliterated": pl.Int32,
}
_COUNTED = ["line", "size", "gsm", "segments", "semicolon", "newline", "tab", "transliterated"]
_SIDE_SCHEMA = {
    "line": pl.Int64, "k": pl.UInt64, "h": pl.UInt64, "size": pl.Int64, "gsm": pl.Boolean, "segments": pl.Int32,
    "semicolon": pl.Int32, "newline": pl.Int32, "tab": pl.Int32, "transliterated": pl.Int32,
}
