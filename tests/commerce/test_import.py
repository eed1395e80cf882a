import io

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guanxi.commerce.importing import order_import
from guanxi.commerce.models import Order, OrderEvent, OrderItem, Store
from guanxi.core.models import BusinessEvent
from guanxi.customers.models import Customer

CHINESE = (
    "订单号,店铺,买家ID,手机,邮箱,姓名,下单时间,付款时间,发货时间,收货时间,商品编码,商品名称,"
    "数量,单价,优惠,运费,实付金额,退款金额\n"
    "T1,tmall-main,b1,13812345678,a@example.com,张伟,2024-05-01 10:00,2024-05-01 10:05,"
    "2024-05-02 09:00,,A1,T恤,2,49.50,10,0,89.00,\n"
    "T1,tmall-main,b1,13812345678,a@example.com,张伟,2024-05-01 10:00,2024-05-01 10:05,"
    "2024-05-02 09:00,,B2,袜子,1,10.00,0,0,10.00,\n"
    "T2,tmall-main,b2,,,李娜,2024-05-03 08:00,,,,A1,T恤,1,49.50,,,,\n"
    "T3,tmall-main,b1,,,,2024-05-04 08:00,2024-05-04 08:01,,,,,1,20,,,20.00,20.00\n"
)


def run(actor, text, *, encoding="utf-8", filename="orders.csv", **options):
    return order_import(
        actor=actor, fileobj=io.BytesIO(text.encode(encoding)), filename=filename, **options
    )


def counts():
    return (
        Order.objects.count(),
        OrderItem.objects.count(),
        OrderEvent.objects.count(),
        BusinessEvent.objects.count(),
        Customer.objects.count(),
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_in_any_encoding_are_imported(admin_user, store, encoding):
    report = run(admin_user, CHINESE, encoding=encoding)
    assert report.errors == []
    assert report.written
    assert (report.total_rows, report.orders) == (4, 3)
    t1 = Order.objects.get(external_id="T1")
    assert t1.status == "shipped"
    assert str(t1.paid_amount) == "99.00"
    assert str(t1.discount_amount) == "10.00"
    assert t1.item_count == 3
    assert t1.customer.name == "张伟"
    assert Order.objects.get(external_id="T2").status == "placed"
    t3 = Order.objects.get(external_id="T3")
    assert t3.status == "refunded"
    assert t3.customer == t1.customer
    assert Customer.objects.count() == 2


def test_importing_twice_changes_nothing(admin_user, store):
    run(admin_user, CHINESE)
    before = counts()
    report = run(admin_user, CHINESE)
    assert report.applied == 0
    assert report.duplicates == report.events
    assert counts() == before


def test_a_dry_run_reports_and_writes_nothing(admin_user, store):
    report = run(admin_user, CHINESE, dry_run=True)
    assert report.errors == []
    assert report.orders == 3
    assert not report.written
    assert counts() == (0, 0, 0, 0, 0)


def test_a_bad_row_stops_the_whole_import_with_row_and_column(admin_user, store):
    bad = CHINESE.replace("2,49.50,10,0,89.00", "two,49.50,10,0,89.00")
    bad = bad.replace("b2,,,李娜,2024-05-03 08:00", "b2,123,,李娜,2024-05-03 08:00")
    report = run(admin_user, bad)
    assert [(e["row"], e["column"]) for e in report.errors] == [(2, "数量"), (4, "手机")]
    assert not report.written
    assert counts() == (0, 0, 0, 0, 0)


def test_skip_bad_rows_leaves_out_whole_orders(admin_user, store):
    bad = CHINESE.replace("B2,袜子,1,10.00", "B2,袜子,1,ten")
    report = run(admin_user, bad, skip_bad_rows=True)
    assert report.written
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["T2", "T3"]
    assert report.skipped_rows == 2


def test_an_unknown_store_code_is_a_row_error(admin_user, store):
    report = run(admin_user, CHINESE.replace("T2,tmall-main", "T2,nowhere"))
    assert report.errors[0]["column"] == "店铺"
    assert counts() == (0, 0, 0, 0, 0)


def test_the_store_comes_from_the_option_when_there_is_no_column(admin_user, store):
    text = (
        "Order ID,Buyer ID,Placed at,Paid at,Quantity,Paid amount\n"
        "C1,00004,19970101,19970101,2,29.33\n"
    )
    report = run(admin_user, text, store=store)
    assert report.written
    order = Order.objects.get()
    assert (order.item_count, str(order.paid_amount), order.status) == (2, "29.33", "paid")
    assert order.items.get().sku == ""


def test_a_file_without_order_numbers_is_unreadable(admin_user, store):
    from guanxi.customers.importing import UnreadableFile

    with pytest.raises(UnreadableFile):
        run(admin_user, "Name,Phone\nx,1\n", store=store)


def test_an_analyst_may_not_import(users_by_role, store):
    from guanxi.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        run(users_by_role["analyst"], CHINESE)
    assert counts() == (0, 0, 0, 0, 0)


def test_xlsx_files_are_read(admin_user, store):
    book = openpyxl.Workbook()
    sheet = book.active
    lines = [line.split(",") for line in CHINESE.strip().split("\n")]
    for line in lines:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    report = order_import(
        actor=admin_user, fileobj=io.BytesIO(buffer.getvalue()), filename="orders.xlsx"
    )
    assert report.errors == []
    assert Order.objects.count() == 3


def test_the_cli_imports_orders(admin_user, store, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(CHINESE, encoding="gb18030")
    call_command("import_data", "orders", str(path), "--store", store.code)
    assert Order.objects.count() == 3
    bad = tmp_path / "bad.csv"
    bad.write_text(CHINESE.replace("T2,tmall-main,b2", "T2,tmall-main,"), encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import_orders", str(bad))


def test_the_whole_cdnow_sample_loads_as_orders(admin_user, db):
    from tests.analytics.test_clv import cdnow_path

    cdnow = Store.objects.create(code="cdnow", name="CDNOW", channel="web")
    lines = ["Buyer ID,Order ID,Placed at,Paid at,Quantity,Paid amount"]
    with open(cdnow_path()) as handle:
        for n, line in enumerate(handle):
            buyer, _id, date, cds, dollars = line.split()
            lines.append(f"{buyer},{buyer}-{n},{date},{date},{cds},{dollars}")
    report = run(admin_user, "\n".join(lines) + "\n", store=cdnow)
    assert report.errors == []
    assert report.orders == 6919
    assert Customer.objects.count() == 2357


def test_the_bulk_path_gives_the_same_results_as_event_by_event(admin_user, store):
    from guanxi.commerce import importing, services

    other = Store.objects.create(code="other", name="Other", channel="tmall")
    run(admin_user, CHINESE)
    # The same events through the webhook's path, into another store.
    table = importing.open_table(io.BytesIO(CHINESE.encode()), "x.csv")
    assert table.headers[0] == "订单号"
    report = run(admin_user, CHINESE.replace("tmall-main", "other"), dry_run=True)
    assert report.errors == []
    events = []
    checker_orders = {}
    text = CHINESE.replace("tmall-main", "other")
    mapping = importing.detect_mapping(table.headers)
    checker = importing._RowChecker(store=None, mapping=mapping, report=importing.Report())
    fields = [mapping[h] for h in table.headers]
    for number, line in enumerate(text.strip().split("\n")[1:], start=2):
        raw = dict(zip(fields, line.split(","), strict=True))
        values, errors = checker.check(number, raw)
        assert errors == []
        order = checker_orders.setdefault(
            values["order_id"], importing._Order(other, values["order_id"])
        )
        order.rows.append(importing._Row(number, values))
    for order in checker_orders.values():
        for raw in importing._events_for(order):
            events.append(services.clean_event(raw)[0])
    services.order_ingest_events(store=other, events=events, source="api")

    def state(code):
        return [
            (
                o.external_id,
                o.status,
                o.paid_amount,
                o.refunded_amount,
                o.cost_amount,
                o.item_count,
                o.placed_at,
                o.paid_at,
                o.shipped_at,
                o.refunded_at,
            )
            for o in Order.objects.filter(store__code=code).order_by("external_id")
        ]

    def payloads(code):
        rows = BusinessEvent.objects.filter(
            name__startswith="order.", payload__store_id=Store.objects.get(code=code).pk
        )
        return [
            {k: v for k, v in e.payload.items() if k not in ("order_id", "store_id")}
            for e in rows.order_by("id")
        ]

    assert state("tmall-main") == state("other")
    assert payloads("tmall-main") == payloads("other")


def test_a_second_file_adds_only_the_new_events_of_known_orders(admin_user, store):
    run(admin_user, CHINESE)
    later = CHINESE.replace("2024-05-02 09:00,,A1", "2024-05-02 09:00,2024-05-05 09:00,A1")
    report = run(admin_user, later)
    assert (report.applied, report.duplicates) == (1, report.events - 1)
    assert Order.objects.get(external_id="T1").status == "received"
    assert BusinessEvent.objects.filter(name="order.received").count() == 1
