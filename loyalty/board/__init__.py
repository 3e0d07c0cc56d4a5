"""The housekeeping board: the room-state projection staff see (`projection`, `views`,
`model`), staff workflows (`workflow`, `session`, `setup`), and its web page, live feed and
agent endpoints (`routes_*`, `templates/`, `static/`). See docs/housekeeping.md."""
