"""Tool names in every naming style become the same words."""

from __future__ import annotations

import pytest

from callgate.classifier.tokens import split_name, split_prose


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("CloneContainerToECR", ("clone", "container", "to", "ecr")),
        ("delete_file", ("delete", "file")),
        ("drop-database", ("drop", "database")),
        ("aws_s3_put_object", ("aws", "s3", "put", "object")),
        ("Run-Funnels-Query", ("run", "funnel", "query")),
        ("n8n_list_workflows", ("n8n", "list", "workflow")),
        ("getVisibleJiraProjects", ("get", "visible", "jira", "project")),
        ("ECRImageList", ("ecr", "image", "list")),
        ("git.show", ("git", "show")),
    ],
)
def test_split_name_reads_every_naming_style(name: str, words: tuple[str, ...]) -> None:
    assert split_name(name) == words


def test_split_name_joins_nouns_that_start_with_a_verb() -> None:
    assert split_name("get_merge_request") == ("get", "merge_request")
    assert split_name("listPullRequests") == ("list", "pull_request")


def test_split_prose_folds_third_person_verbs() -> None:
    assert split_prose("Retrieves invoices and searches entries")[:4] == (
        "retrieve",
        "invoice",
        "and",
        "search",
    )
