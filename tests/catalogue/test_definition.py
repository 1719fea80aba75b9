"""Reading a tool definition as the server sent it, whatever it sent."""

from __future__ import annotations

from callgate.catalogue.definition import read_definition, summarize


def test_parameters_types_and_required() -> None:
    tool = read_definition(
        {
            "name": "t",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "description": "the a"},
                    "b": {"type": ["integer", "null"]},
                    "c": {"type": "array", "items": {"type": "string"}},
                    "d": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                    "e": {},
                },
                "required": ["a"],
            },
        }
    )

    assert [(p.name, p.type_text, p.required) for p in tool.parameters] == [
        ("a", "string", True),
        ("b", "integer | null", False),
        ("c", "array of string", False),
        ("d", "number | null", False),
        ("e", "any", False),
    ]
    assert tool.parameters[0].description == "the a"
    assert tool.parameters[1].holds("number")
    assert tool.parameters[2].is_list and tool.parameters[2].holds("string")
    assert tool.parameters[4].holds("boolean")
    assert tool.has_schema


def test_a_definition_of_the_wrong_shapes_reads_as_empty() -> None:
    tool = read_definition(
        {"name": "t", "description": 7, "inputSchema": [], "annotations": "x", "title": 3}
    )

    assert (tool.description, tool.parameters, tool.annotations, tool.title) == ("", (), (), "")
    assert not tool.has_schema


def test_annotations_keep_their_values_and_give_the_title() -> None:
    tool = read_definition(
        {"name": "t", "annotations": {"title": "Nice", "readOnlyHint": True, "x": None}}
    )

    assert tool.title == "Nice"
    assert tool.annotations == (("readOnlyHint", True), ("x", None))


def test_summary_is_the_first_paragraphs_leading_sentences() -> None:
    text = "First sentence.  Second\nsentence!\n\nArguments: lots of them."

    assert summarize(text) == "First sentence. Second sentence!"
    long = " ".join(f"Sentence number {n} says a little more." for n in range(20))
    assert summarize(long, 80) == (
        "Sentence number 0 says a little more. Sentence number 1 says a little more."
    )
    assert summarize("x" * 50 + " " + "y" * 50, 60).endswith("…")
