"""The strict JSON decoder's quick check may only ever say "surely strict": on any body, its
answer (the value, or the error with its code and field) is the full check's answer."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.edge import strict_json
from loyalty.edge.strict_json import MAX_DEPTH, BodyError

# Few key names, so objects often repeat one; text with control characters, C1, brackets
# and quotes, written raw or as \u escapes; lone surrogates (only ever escaped in UTF-8).
_chars = st.characters(codec="utf-8")
_text = st.text(alphabet=st.one_of(st.sampled_from('ab[]{}"\\\x00\x08\x0c\x7f\x85'), _chars))


def _string(value: str, ascii_: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_)


_scalar = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False).map(json.dumps),
    st.sampled_from(["null", "true", "false", "NaN", "-Infinity", "1e999", "[", "}"]),
    st.sampled_from(['"\\ud800"', '"x\\u0000"', '"\\b"', '"\\\\b"', '"\\n\\t"', '"\x85"']),
    st.builds(_string, _text, st.booleans()),
)
_key = st.builds(_string, st.one_of(st.sampled_from(["a", "b", "c"]), _text), st.booleans())


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    array = st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
    pairs = st.lists(st.tuples(_key, children), max_size=4)
    obj = pairs.map(lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}")
    return array | obj


_documents = st.recursive(_scalar, _containers, max_leaves=30)


def _outcome(parse: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("ok", repr(parse(text)))
    except BodyError as exc:
        return ("refused", exc.status, exc.code, exc.message, exc.field)


def _agree(text: str) -> None:
    quick = _outcome(lambda t: strict_json.parse(t.encode()), text)
    full = _outcome(strict_json._strict, text)
    assert quick == full


@settings(max_examples=400, deadline=None)
@given(_documents)
def test_any_document_gets_the_full_checks_answer(text: str) -> None:
    _agree(text)


@settings(max_examples=50, deadline=None)
@given(st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2), st.sampled_from(["[]", "{}", "1", '"x"']))
def test_nesting_at_the_limit_gets_the_full_checks_answer(depth: int, inner: str) -> None:
    _agree("[" * depth + inner + "]" * depth)
    _agree('{"a":' * depth + inner + "}" * depth)


def test_a_clean_upload_is_decoded_as_the_full_check_decodes_it() -> None:
    body = {"events": [{"kind": "energy", "payload": {"kwh": 0.1, "n": "[{"}}] * 3, "x": None}
    text = json.dumps(body)
    assert strict_json._quick(text.encode(), text) == (True, body)
    _agree(text)
