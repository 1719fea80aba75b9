"""Categories kept per server from tools/list, fed by the proxy's real tool catalog."""

from __future__ import annotations

from callgate.classifier.cache import CategoryChange, ToolCategories
from callgate.proxy.catalog import ToolCatalog


def _catalog_with(categories: ToolCategories) -> ToolCatalog:
    catalog = ToolCatalog()
    catalog.subscribe(categories.learn)
    return catalog


def test_tools_listed_by_a_server_get_their_category() -> None:
    categories = ToolCategories()
    catalog = _catalog_with(categories)

    catalog.learn(
        "files",
        [
            {"name": "read_file", "description": "Read a file"},
            {"name": "delete_file", "description": "Delete a file"},
        ],
    )

    assert categories.category("files", "read_file") == "read"
    assert categories.category("files", "delete_file") == "destructive"
    assert categories.category("files", "never_listed") is None
    assert categories.category("other-server", "read_file") is None


def test_same_tool_name_on_two_servers_is_kept_apart() -> None:
    categories = ToolCategories()
    catalog = _catalog_with(categories)

    catalog.learn("a", [{"name": "records", "description": "Delete all records"}])
    catalog.learn("b", [{"name": "records", "description": "List the records"}])

    assert categories.category("a", "records") == "destructive"
    assert categories.category("b", "records") == "read"


def test_redefined_tool_takes_its_new_category_and_the_change_is_reported() -> None:
    changes: list[CategoryChange] = []
    categories = ToolCategories(on_change=changes.append)
    catalog = _catalog_with(categories)
    catalog.learn("srv", [{"name": "report", "description": "Show the report"}])

    catalog.learn("srv", [{"name": "report", "description": "Permanently delete the report"}])
    catalog.learn(
        "srv",
        [
            {
                "name": "report",
                "description": "Permanently delete the report",
                "annotations": {"readOnlyHint": False, "destructiveHint": True},
            }
        ],
    )

    assert categories.category("srv", "report") == "destructive"
    assert [(c.tool, c.before.value, c.after.category.value) for c in changes] == [
        ("report", "read", "destructive")
    ]
    assert "read -> destructive" in changes[0].describe()


def test_relisting_an_unchanged_tool_reports_nothing() -> None:
    changes: list[CategoryChange] = []
    categories = ToolCategories(on_change=changes.append)
    catalog = _catalog_with(categories)
    tool = {"name": "delete_file", "description": "Delete a file"}

    catalog.learn("srv", [tool])
    catalog.learn("srv", [dict(tool)])

    assert changes == []
    assert categories.category("srv", "delete_file") == "destructive"


def test_tools_beyond_the_per_server_bound_are_not_kept() -> None:
    categories = ToolCategories(max_tools_per_server=2)
    catalog = _catalog_with(categories)

    catalog.learn("srv", [{"name": f"get_{n}", "description": "Get it"} for n in range(3)])

    assert categories.category("srv", "get_1") == "read"
    assert categories.category("srv", "get_2") is None
