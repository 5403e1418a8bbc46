"""What push records comes through the conversion's sink: every accepted message once,
in its batch, with either engine, and nothing from a columnar attempt that fell back."""

from __future__ import annotations

from pathlib import Path

import pytest

from batcher.convert import convert_drop
from batcher.pipeline import _Recorder
from batcher.settings import load_settings
from batcher.store import Store


def drop_text(multiline: bool) -> str:
    rows = [f"55119{i:08d};Olá {i}, sua fatura vence amanhã;ref-{i}" for i in range(2_500)]
    rows.insert(700, "5511987654321;repetida;ref-1")  # a duplicate correlationId: refused
    if multiline:
        rows.append('5511999999999;"duas\nlinhas";ref-x')  # the columnar reader steps aside
    return "telefone;mensagem;referencia\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(("multiline", "engine"), [(False, "columnar"), (True, "row")])
def test_every_accepted_message_is_recorded_once_in_its_batch(tmp_path: Path, multiline: bool, engine: str) -> None:
    src = tmp_path / "drop.csv"
    src.write_text(drop_text(multiline), encoding="utf-8")
    settings = load_settings(None, environ={}, overrides={"format": {"max_rows_per_file": 1_000}})
    with Store.open(tmp_path / "state") as store:
        batch_ids: list[int] = []
        with store.transaction():
            drop = store.add_drop("P", "0" * 64, str(src), src.name)

            def namer(index: int) -> str:
                name = f"P.20260101.{index + 1:02d}.txt"
                batch_ids.append(store.add_batch(drop.id, "P", "20260101", index + 1, name, "/x", 0, "", 0).id)
                return name

            summary = convert_drop(src, project="P", settings=settings, out_dir=tmp_path / "out", namer=namer,
                                   sink=_Recorder(store, drop.id, batch_ids))
        assert summary.engine == engine
        assert summary.rejected == {"correlation_id_duplicate": 1}
        # the refused row is stored with its drop, its cells named by the column map
        (refused,) = store.refusals(drop.id)
        assert (refused.line, refused.code, refused.number, refused.correlation_id) == (
            702, "correlation_id_duplicate", "5511987654321", "ref-1")
        assert len(batch_ids) == len(summary.files) == 3
        for batch_id, written in zip(batch_ids, summary.files, strict=True):
            recorded = [f"{m.number};{m.text};{m.correlation_id};" for m in store.messages(batch_id)]
            assert recorded == written.path.read_text(encoding="utf-8").splitlines()[:-1]  # all but EOF
