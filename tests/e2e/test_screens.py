"""Every main page at both viewports in both languages: a screenshot of each in
/tmp/guanxi-screens (to look at), and no page wider than the screen."""

import io

import pytest
from django.conf import settings
from playwright.sync_api import expect

from guanxi.customers import importing, services
from tests.conftest import make_user
from tests.e2e.conftest import VIEWPORTS, login_as, make_customer, overflow, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IMPORT_CSV = (
    "姓名,手机,邮箱,省份,城市\n"
    "周杰,13812340001,zhoujie@example.com,浙江省,杭州市\n"
    "吴磊,abc,wulei@example,江苏省,南京市\n"
    "郑爽,13812340003,,上海市,上海市\n"
).encode()


@pytest.fixture
def showcase(admin_user, alice, east, west):
    """A small but realistic data set: tags, a custom field, a company with a long
    address, a duplicate pair and a checked import with bad rows."""
    make_user("wangqiang", "sales", west, display_name="王强")
    services.tag_create(actor=admin_user, name="VIP", color="#d97706")
    services.tag_create(actor=admin_user, name="回头客", color="#16a34a")
    services.custom_field_create(
        actor=admin_user,
        data={"key": "wechat", "label": "微信号", "type": "text", "position": "1"},
    )
    services.custom_field_create(
        actor=admin_user,
        data={
            "key": "channel",
            "label": "渠道",
            "type": "choice",
            "choices": "天猫, 京东, 门店",
            "position": "2",
        },
    )
    zhang = make_customer(
        admin_user,
        "张伟",
        phone="13812345678",
        email="zhangwei@example.com",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        address="文三路 478 号华星时代广场 A 座 1201 室",
        stage="customer",
        grade="A",
        tags="VIP, 回头客",
        owner=alice.pk,
        custom={"wechat": "zhangwei_1988", "channel": "天猫"},
        notes="喜欢绿茶；每年双十一前联系。",
    )
    make_customer(admin_user, "张 伟", phone="+86 138-1234-5678", stage="lead", owner=alice.pk)
    make_customer(
        admin_user,
        "杭州西子湖畔电子商务有限公司（华东区域总部）",
        kind="company",
        phone="057188886666",
        email="procurement.department@xizi-ecommerce-hangzhou.example.com",
        province="浙江省",
        city="杭州市",
        stage="prospect",
        grade="B",
        tags="VIP",
    )
    for name, phone, stage in [
        ("李娜", "13900001111", "vip"),
        ("王芳", "13700002222", "dormant"),
        ("Amy 陈", "+1 415 555 0100", "lost"),
    ]:
        make_customer(admin_user, name, phone=phone, stage=stage)
    job = importing.import_start(
        actor=admin_user, fileobj=io.BytesIO(IMPORT_CSV), filename="客户名单.csv"
    )
    importing.import_check(job=job)
    return {"customer": zhang, "job": job}


def pages(showcase, admin_user):
    customer = showcase["customer"]
    twin = customer.__class__.objects.get(name="张 伟")
    return {
        "dashboard": "/",
        "list": "/customers/",
        "list-search": "/customers/?q=zw",
        "detail": f"/customers/{customer.pk}/",
        "create": "/customers/new/",
        "edit": f"/customers/{customer.pk}/edit/",
        "import": "/customers/import/",
        "import-report": f"/customers/import/{showcase['job'].pk}/",
        "settings": "/customers/settings/",
        "duplicates": "/customers/duplicates/",
        "merge": f"/customers/merge/?ids={customer.pk},{twin.pk}",
        "users": "/accounts/users/",
        "teams": "/accounts/teams/",
        "profile": "/accounts/profile/",
        "tokens": "/accounts/tokens/",
    }


def set_language(page, live_server, code):
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": code, "url": live_server.url}]
    )


def test_every_main_page_fits_the_screen_in_both_languages(
    page, live_server, admin_user, showcase, viewport
):
    width = VIEWPORTS[viewport]["width"]
    too_wide = []
    for lang in ["zh-hans", "en"]:
        set_language(page, live_server, lang)
        page.context.clear_cookies(name=settings.SESSION_COOKIE_NAME)
        page.goto(f"{live_server.url}/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        screenshot(page, f"login-{viewport}-{lang}")
        if overflow(page, width) > 1:
            too_wide.append(("login", lang, overflow(page, width)))

        login_as(page, live_server, admin_user, None)
        for name, path in pages(showcase, admin_user).items():
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, (name, lang, response.status)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            screenshot(page, f"{name}-{viewport}-{lang}")
            if overflow(page, width) > 1:
                too_wide.append((name, lang, overflow(page, width)))
        assert page.evaluate("document.documentElement.clientWidth") == width
    assert too_wide == []
