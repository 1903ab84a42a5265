"""parse_answer: answer blocks, JSON and Python-literal syntax, entry validity, the template check."""

import json

import pytest

from rarl.rewards import MAX_ANSWER_CHARS, ParsedAnswer, parse_answer


def wrap(answer: str, think: str = "reasoning") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def entries_of(answer: str, n_images: int = 3) -> tuple[tuple[int, float], ...]:
    return parse_answer(wrap(answer), n_images).entries


# --- well-formed answers ------------------------------------------------------------------------------


def test_json_answer_is_read_in_answer_order():
    p = parse_answer(wrap('[{"image_id": 2, "value": 31.5}, {"image_id": 1, "value": 40}]'), 2)
    assert p == ParsedAnswer(
        ok=True,
        entries=((2, 31.5), (1, 40.0)),
        n_entries=2,
        all_valid=True,
        template_ok=True,
        n_images=2,
    )
    assert p.values_by_id() == {2: 31.5, 1: 40.0}
    assert p.image_ids == (2, 1)
    assert p.values == (31.5, 40.0)
    assert all(type(v) is float for v in p.values)


def test_single_quotes_read_like_json():
    text_json = '[{"image_id": 3, "value": 7}, {"image_id": 1, "value": 2.5}, {"image_id": 2, "value": "4"}]'
    text_py = text_json.replace('"', "'")
    assert parse_answer(wrap(text_py), 3) == parse_answer(wrap(text_json), 3)
    assert entries_of(text_py) == ((3, 7.0), (1, 2.5), (2, 4.0))


@pytest.mark.parametrize(
    "answer",
    [
        "[{'image_id': 1, 'value': 5,},]",  # trailing commas (Python only)
        "[{'image_id': 1, 'value': +5}]",  # unary plus (Python only)
        "[{'image_id': 1, 'value': 5.0, 'note': \"it's\"}]",  # both quote kinds
        '[{"image_id": 1, "value": 5, }]',  # double quotes but not JSON
        "[{'image_id': 1, 'value': 0x5}]",  # hexadecimal literal
        "  [{'image_id': 1, 'value': 5}]\n ",  # whitespace around the list
    ],
)
def test_python_literal_forms(answer):
    p = parse_answer(wrap(answer), 1)
    assert p.ok and p.all_valid
    assert p.entries == ((1, 5.0),)


def test_json_only_words_fall_back_to_python_semantics():
    # `true` is JSON, not Python: a single-quoted answer using it is neither syntax, so nothing parses.
    assert not parse_answer(wrap("[{'image_id': 1, 'value': true}]"), 1).ok
    # In pure JSON it parses, and a bool is not a valid value.
    p = parse_answer(wrap('[{"image_id": 1, "value": true}]'), 1)
    assert p.ok and not p.all_valid and p.entries == ()
    # Python's True parses too and is equally invalid.
    p = parse_answer(wrap("[{'image_id': 1, 'value': True}]"), 1)
    assert p.ok and not p.all_valid and p.n_entries == 1


def test_extra_keys_are_ignored():
    p = parse_answer(wrap("[{'image_id': 1, 'value': 3, 'reason': 'older'}]"), 1)
    assert p.all_valid and p.entries == ((1, 3.0),)


# --- entry validity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_id", "expected"),
    [
        ("2", 2),
        ('"02"', 2),
        ("2.0", 2),  # a JSON float literal: integral float
        ('"3"', 3),
        ("0", None),
        ("4", None),  # N = 3
        ("-1", None),
        ("2.5", None),
        ("true", None),
        ('"2.0"', None),  # digit strings only
        ('" 2"', None),
        ('"\u00b2"', None),  # superscript two is a digit to str.isdigit but not an ASCII digit
        ("null", None),
        ("[1]", None),
    ],
)
def test_image_id_validity(image_id, expected):
    p = parse_answer(wrap(f'[{{"image_id": {image_id}, "value": 1}}]'), 3)
    assert p.ok and p.n_entries == 1
    assert p.all_valid is (expected is not None)
    assert p.entries == (((expected, 1.0),) if expected is not None else ())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("23", 23.0),
        ("-4.25", -4.25),
        ("1e2", 100.0),
        ('"23.5"', 23.5),
        ('" 7 "', 7.0),
        ('"-.5"', -0.5),
        ('"1e-3"', 0.001),
        ("true", None),
        ("false", None),
        ("null", None),
        ("NaN", None),
        ("Infinity", None),
        ("-Infinity", None),
        ("1e999", None),  # overflows to inf
        ('"nan"', None),
        ('"inf"', None),
        ('"1e999"', None),
        ('"twenty"', None),
        ('"1_000"', None),
        ('""', None),
        ("[5]", None),
        ('{"v": 5}', None),
        ("9" * 400, None),  # an int too large for a float
    ],
)
def test_value_validity(value, expected):
    p = parse_answer(wrap(f'[{{"image_id": 1, "value": {value}}}]'), 1)
    assert p.ok and p.n_entries == 1
    assert p.all_valid is (expected is not None)
    if expected is None:
        assert p.entries == ()
    else:
        assert p.entries == ((1, pytest.approx(expected)),)


def test_missing_keys_and_non_dict_items_are_invalid_but_counted():
    p = parse_answer(wrap('[{"image_id": 1}, {"value": 3}, 5, "x", [1, 2], {"image_id": 2, "value": 4}]'), 3)
    assert p.ok and not p.all_valid
    assert p.n_entries == 6
    assert p.entries == ((2, 4.0),)


def test_first_entry_of_a_repeated_id_counts():
    p = parse_answer(
        wrap('[{"image_id": 2, "value": 5}, {"image_id": 2, "value": 9}, {"image_id": 1, "value": 1}]'), 2
    )
    assert p.entries == ((2, 5.0), (1, 1.0))
    assert p.n_entries == 3
    assert not p.all_valid


def test_invalid_first_entry_does_not_claim_its_id():
    p = parse_answer(wrap('[{"image_id": 2, "value": "x"}, {"image_id": 2, "value": 9}]'), 2)
    assert p.entries == ((2, 9.0),)
    assert not p.all_valid


def test_empty_list_parses_with_no_entries():
    p = parse_answer(wrap("[]"), 2)
    assert p.ok and p.all_valid and p.n_entries == 0 and p.entries == ()


# --- answer blocks ------------------------------------------------------------------------------------

GOOD = '[{"image_id": 1, "value": 1}]'


@pytest.mark.parametrize(
    "completion",
    [
        "no tags at all",
        f"<think>x</think>{GOOD}",
        f"<think>x</think><answer>{GOOD}",  # unclosed
        f"<think>x</think>{GOOD}</answer>",
        f"<think>x</think><answer>{GOOD}</answer><answer>{GOOD}</answer>",  # two blocks
        f"<answer>{GOOD}</answer> and <answer></answer>",
        f"</answer>{GOOD}<answer>",  # closing before opening
        "<think>x</think><answer></answer>",  # empty
        "<think>x</think><answer>   </answer>",
        '<think>x</think><answer>{"image_id": 1, "value": 1}</answer>',  # a dict, not a list
        "<think>x</think><answer>23</answer>",
        f"<think>x</think><answer>```json\n{GOOD}\n```</answer>",  # code fence
        f"<think>x</think><answer>The list is {GOOD}</answer>",
        f"<think>x</think><answer>{GOOD[:-3]}</answer>",  # truncated
        "<think>x</think><answer>[1, 2</answer>",
        f"<think>x</think><ANSWER>{GOOD}</ANSWER>",  # tags are case-sensitive
    ],
)
def test_no_single_parsable_answer_block(completion):
    p = parse_answer(completion, 1)
    assert not p.ok
    assert p.entries == () and p.n_entries == 0 and not p.all_valid


def test_answer_without_think_parses_but_fails_the_template():
    p = parse_answer(f"<answer>{GOOD}</answer>", 1)
    assert p.ok and p.all_valid and not p.template_ok


@pytest.mark.parametrize(
    ("completion", "template_ok"),
    [
        (f"<think>a</think><answer>{GOOD}</answer>", True),
        (f"  \n<think>a</think>\n\n<answer>{GOOD}</answer>\n ", True),
        (f"<think></think><answer>{GOOD}</answer>", True),
        (f"<think>a\n<b>multi-line</b></think><answer>{GOOD}</answer>", True),
        (f"Sure! <think>a</think><answer>{GOOD}</answer>", False),
        (f"<think>a</think> so <answer>{GOOD}</answer>", False),
        (f"<think>a</think><answer>{GOOD}</answer> done", False),
        (f"<answer>{GOOD}</answer><think>a</think>", False),
        (f"<think>a</think><think>b</think><answer>{GOOD}</answer>", False),
        (f"<think>a<think>b</think><answer>{GOOD}</answer>", False),
        (f"<think>a</think></think><answer>{GOOD}</answer>", False),
        (f"<think>a<answer>{GOOD}</answer></think>", False),
    ],
)
def test_template(completion, template_ok):
    p = parse_answer(completion, 1)
    assert p.template_ok is template_ok
    assert p.ok and p.entries == ((1, 1.0),)


# --- guards -------------------------------------------------------------------------------------------


def test_answer_length_cap():
    item = '{"image_id": 1, "value": 1}'
    padded = "[" + item + " " * (MAX_ANSWER_CHARS - len(item) - 2) + "]"
    assert len(padded) == MAX_ANSWER_CHARS
    assert parse_answer(wrap(padded), 1).entries == ((1, 1.0),)
    assert not parse_answer(wrap(padded + " "), 1).ok


@pytest.mark.parametrize(
    "answer",
    [
        "[" * 5000 + "]" * 5000,
        "['" + "[" * 5000 + "]" * 5000,
        "[" + "-" * 9000 + "1]",
        "[" + "(" * 3000 + ")" * 3000 + "]",
        "[" + "{'a': " * 3000 + "1" + "}" * 3000 + "]",
        "[" + "9" * 9000 + "]",
        "['\x00']",
        "[{{}}]",
        "[{[1]: 2}]",
        "[__import__('os').system('true')]",
        "[(lambda: 1)()]",
        "[1 + 2j, 'a' * 10 ** 9]",
    ],
)
def test_pathological_answers_do_not_raise(answer):
    p = parse_answer(wrap(answer), 2)
    assert not p.ok
    assert p.entries == ()


def test_huge_literal_values_are_invalid_not_errors():
    p = parse_answer(wrap("[{'image_id': 1, 'value': " + "9" * 4000 + "}]"), 1)
    assert p.ok and p.entries == () and not p.all_valid


def test_non_string_completion_does_not_parse():
    assert not parse_answer(None, 2).ok  # type: ignore[arg-type]
    assert not parse_answer(b"<answer>[]</answer>", 2).ok  # type: ignore[arg-type]


def test_negative_image_count_is_a_caller_error():
    with pytest.raises(ValueError, match="n_images"):
        parse_answer(wrap(GOOD), -1)


def test_json_answer_round_trip_for_many_entries():
    values = [{"image_id": i, "value": i * 1.5} for i in range(8, 0, -1)]
    p = parse_answer(wrap(json.dumps(values)), 8)
    assert p.all_valid and p.image_ids == tuple(range(8, 0, -1))
    assert p.values_by_id() == {i: i * 1.5 for i in range(1, 9)}
