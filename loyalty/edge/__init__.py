"""The service's edge rules, in one place so every router gets them without asking:

* `text`: which characters any text may hold (no C0/C1 controls except tab, LF, CR; no
  DEL; no lone surrogates) — PostgreSQL cannot store NUL, and neither backend can store a
  lone surrogate, so both refuse the same input with a 422 naming the field.
* `strict_json`: the one JSON decoder for request bodies (duplicate keys, NaN/Infinity,
  over-deep nesting and the text policy are refused, naming the field).
* `middleware.Edge`: the ASGI middleware that applies them before any route runs (413 for
  any body over the limit, chunked or not; 415 naming the expected type; 400 for a body
  that is not JSON; 422 for the above), and `allow_header` for 405s.
* `fields`: the strict scalar types request models use (points are JSON integers, money
  one decimal-string format, dates and moments ISO 8601 with ASCII digits).
* `openapi`: documents the edge answers (400/413/415/422) on every operation.
"""
