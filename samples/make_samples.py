"""Regenerate the sample drops in samples/drops/ (run: python samples/make_samples.py).

Small, realistic drops for Brazilian SMS campaigns, one per reader path. All numbers
are fictitious, but well-formed Brazilian mobiles (checked with phonenumbers below),
except the bad rows that are there on purpose:

    clientes_promo.csv       `;`, Windows-1252 (as pt-BR Excel saves "CSV"), header
                             Telefone;Mensagem;Referencia, 20 rows of which 3 are bad:
                             a landline-like short number (line 7), a number in
                             scientific notation (line 13), an empty text (line 18)
    lembrete.xlsx            numeric phone cells, header celular | texto, data from row 1
    cobranca.ods             numeric phone cells, header Número | Mensagem | Referência,
                             two blank rows above the header (header on row 3)
    avisos.tsv               UTF-8, no header: number, text, id by position
    pesquisa_multilinha.csv  `,`, UTF-8 with BOM (Excel "CSV UTF-8"), texts holding `;`,
                             commas and line breaks inside quotes
    entregas.xls             legacy Excel 97-2003, header Fone | SMS

Requires the dev extras (openpyxl, odfpy, xlwt).
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import openpyxl
import phonenumbers
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

OUT = Path(__file__).resolve().parent / "drops"
FIXED = datetime.datetime(2024, 5, 6, 9, 0, 0)
AREAS = (11, 21, 31, 41, 51, 61, 71, 81, 85, 19, 47, 62)


def mobile(i: int) -> int:
    """A fictitious but valid Brazilian mobile: 55 + area code + 9 + 8 digits."""
    area = AREAS[i % len(AREAS)]
    number = int(f"55{area}9{(81234567 + i * 104729) % 10**8:08d}")
    parsed = phonenumbers.parse(f"+{number}")
    assert phonenumbers.is_valid_number(parsed), number
    assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE, number
    return number


def pretty(number: int, style: int) -> str:
    """The ways people type a number: +55 (11) 98123-4567, (11) 98123-4567, 11981234567, ..."""
    digits = str(number)
    area, local = digits[2:4], digits[4:]
    return [
        digits,
        f"+55 ({area}) {local[:5]}-{local[5:]}",
        f"({area}) {local[:5]}-{local[5:]}",
        f"{area}{local}",
        f"+55 {area} {local[:5]} {local[5:]}",
    ][style % 5]


NAMES = ["Ana", "Bruno", "Camila", "Diego", "Eduarda", "Fábio", "Gabriela", "Heitor", "Íris",
         "João", "Larissa", "Márcio", "Natália", "Otávio", "Patrícia", "Raí", "Sônia", "Thiago",
         "Vitória", "Wagner"]  # fmt: skip


def clientes_promo() -> None:
    rows = [["Telefone", "Mensagem", "Referencia"]]
    for i, name in enumerate(NAMES):
        text = f"{name}, aproveite: 20% de desconto em calçados até domingo. Responda SAIR p/ não receber."
        rows.append([pretty(mobile(i), i), text, f"PROMO-{i + 1:04d}"])
    rows[6][0] = "3345-1234"  # landline-like, no area code
    rows[12][0] = "5,51198E+12"  # what pt-BR Excel shows once a number became scientific
    rows[17][1] = ""  # forgot the text
    with (OUT / "clientes_promo.csv").open("w", encoding="cp1252", newline="") as out:
        csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)


def lembrete() -> None:
    workbook = openpyxl.Workbook()
    workbook.properties.created = workbook.properties.modified = FIXED
    sheet = workbook.active
    sheet.title = "Lembretes"
    sheet.append(["celular", "texto"])
    hours = ["08:00", "09:30", "10:15", "11:00", "14:00", "15:45", "16:30", "17:20"]
    for i, hour in enumerate(hours):
        sheet.append([mobile(20 + i), f"Clínica Saúde+: lembrete da sua consulta amanhã às {hour}. Chegue 15 min antes."])
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 80
    for cell in sheet["A"][1:]:
        cell.number_format = "0"  # shows all the digits, not 5,51198E+12
    workbook.save(OUT / "lembrete.xlsx")


def cobranca() -> None:
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Cobrança")

    def row(*values: object) -> None:
        tr = TableRow()
        for value in values:
            if isinstance(value, int):
                cell = TableCell(valuetype="float", value=value)
            else:
                cell = TableCell(valuetype="string")
            if value is not None:
                cell.addElement(P(text=str(value)))
            tr.addElement(cell)
        table.addElement(tr)

    row(None)
    row(None)
    row("Número", "Mensagem", "Referência")
    values = ["89,90", "129,00", "45,50", "210,75", "67,30", "99,99"]
    for i, value in enumerate(values):
        row(mobile(40 + i), f"Sua fatura de R$ {value} vence em 10/05. Pague pelo Pix no app.", f"FAT-2024-05-{i + 1:03d}")
    doc.spreadsheet.addElement(table)
    doc.save(str(OUT / "cobranca.ods"))


def avisos() -> None:
    texts = [
        "Aviso: manutenção programada na rede elétrica da sua rua dia 12/05, das 8h às 12h.",
        "Aviso: falta d'água prevista no bairro amanhã a partir das 22h.",
        "Aviso: coleta de lixo reciclável passa a ser às quartas-feiras.",
        "Aviso: vacinação contra a gripe no posto central até sexta.",
        "Aviso: interdição parcial da Av. Brasil no sábado, 7h-14h.",
        "Aviso: novo horário da agência: 10h às 16h.",
    ]
    with (OUT / "avisos.tsv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        for i, text in enumerate(texts):
            writer.writerow([mobile(60 + i), text, f"aviso-{i + 1}"])


def pesquisa_multilinha() -> None:
    rows = [
        ["celular", "mensagem", "id"],
        [pretty(mobile(80), 1), "Olá! Avalie nosso atendimento; responda de 1 a 5.", "NPS-1"],
        [pretty(mobile(81), 2), "Pesquisa rápida:\n1 - Ótimo\n2 - Bom\n3 - Ruim", "NPS-2"],
        [pretty(mobile(82), 0), 'Obrigado, Márcio! Seu cupom "VOLTE10" vale até 31/05; use no app.', "NPS-3"],
        [pretty(mobile(83), 3), "Loja Centro: seg-sex 9h-18h;\nsáb 9h-13h.", "NPS-4"],
        [pretty(mobile(84), 4), "Tudo certo com sua compra? Responda SIM ou NÃO.", "NPS-5"],
    ]
    with (OUT / "pesquisa_multilinha.csv").open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, delimiter=",", lineterminator="\r\n").writerows(rows)


def entregas() -> None:
    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("Entregas")
    sheet.write(0, 0, "Fone")
    sheet.write(0, 1, "SMS")
    for i in range(5):
        sheet.write(i + 1, 0, mobile(100 + i))
        sheet.write(i + 1, 1, f"Seu pedido nº {48210 + i} saiu para entrega hoje. Acompanhe pelo app.")
    workbook.save(str(OUT / "entregas.xls"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (clientes_promo, lembrete, cobranca, avisos, pesquisa_multilinha, entregas):
        make()
    for path in sorted(OUT.iterdir()):
        print(f"{path.stat().st_size:>7}  {path.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
