"""Writes the import fixture files next to this script (run once; the files are kept).

.venv/bin/python tests/data/make_import_fixtures.py
"""

import csv
import datetime
import io
import pathlib

import openpyxl

HERE = pathlib.Path(__file__).parent
ZH = [
    "姓名",
    "手机",
    "邮箱",
    "性别",
    "生日",
    "省份",
    "城市",
    "来源",
    "阶段",
    "标签",
    "备注",
    "外部ID",
]
EN = [
    "Name",
    "Phone",
    "E-mail",
    "Gender",
    "Birthday",
    "Province",
    "City",
    "Source",
    "Stage",
    "Tags",
    "Notes",
    "External ID",
]
ROWS = [
    [
        "张伟",
        "13800138001",
        "zhangwei@example.com",
        "男",
        "1990-05-01",
        "广东",
        "深圳",
        "taobao",
        "prospect",
        "VIP;复购",
        "老客户",
        "T-001",
    ],
    [
        "李娜",
        "13800138002",
        "lina@example.com",
        "女",
        "1988-12-31",
        "浙江",
        "杭州",
        "wechat",
        "lead",
        "复购",
        "",
        "T-002",
    ],
    [
        "王芳",
        "+86 138 0013 8003",
        "",
        "",
        "",
        "北京",
        "北京",
        "",
        "customer",
        "",
        "喜欢绿茶",
        "T-003",
    ],
]


def write_csv(name, headers, encoding):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(ROWS)
    (HERE / name).write_bytes(out.getvalue().encode(encoding))


def write_xlsx(name):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(ZH)
    for row in ROWS:
        cells = list(row)
        cells[1] = int(cells[1]) if cells[1].isdigit() else cells[1]  # phone typed as number
        if cells[4]:
            cells[4] = datetime.datetime.fromisoformat(cells[4])  # a real date cell
        sheet.append(cells)
    sheet.append([None] * len(ZH))  # a blank row is ignored
    book.save(HERE / name)


if __name__ == "__main__":
    write_csv("customers_utf8.csv", EN, "utf-8")
    write_csv("customers_bom.csv", ZH, "utf-8-sig")
    write_csv("customers_gb18030.csv", ZH, "gb18030")
    write_xlsx("customers.xlsx")
