import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_sales_rep_logs_in_and_sees_the_dashboard(page, live_server, alice, viewport):
    login(page, live_server, "alice", PASSWORD)
    assert page.locator("h1").first.inner_text() in {"仪表盘", "Dashboard"}
    screenshot(page, f"dashboard-{viewport}")
