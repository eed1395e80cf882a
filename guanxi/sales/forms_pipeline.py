"""Turning the opportunity form's POST into the plain dict the services take.

Product lines arrive as parallel lists (``line_product``, ``line_name``, ``line_price``,
``line_quantity``, ``line_discount``), one entry per row of the form."""

FIELDS = ("name", "customer", "pipeline", "stage", "amount", "currency", "expected_close",
          "next_step", "owner")  # fmt: skip
CREATE_ONLY = ("customer", "pipeline", "stage")


def lines_from_post(post) -> list[dict] | None:
    if "line_name" not in post and "line_product" not in post:
        return None
    products = post.getlist("line_product")
    names = post.getlist("line_name")
    prices = post.getlist("line_price")
    quantities = post.getlist("line_quantity")
    discounts = post.getlist("line_discount")
    lines = []
    for i in range(max(len(products), len(names))):

        def at(values, i=i):
            return values[i].strip() if i < len(values) else ""

        row = {
            "product": at(products) or None,
            "name": at(names),
            "unit_price": at(prices) or None,
            "quantity": at(quantities) or None,
            "discount_percent": at(discounts) or None,
        }
        if any(v not in (None, "") for v in row.values()):
            lines.append(row)
    return lines


def opportunity_data_from_post(post, *, partial: bool = False) -> dict:
    data = {}
    for key in FIELDS:
        if partial and key in CREATE_ONLY:
            continue
        if key in post:
            data[key] = post.get(key, "")
    if partial and data.get("owner") == "":
        data.pop("owner")
    lines = lines_from_post(post)
    if lines is not None:
        data["lines"] = lines
    return data
