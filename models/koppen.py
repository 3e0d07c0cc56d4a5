"""The database's climate names mapped to Köppen–Geiger codes.

The metadata describes climate in words ("hot-summer mediterranean"); a hotel's property
record stores the code ("Csa"). Where a name is vague ("tropical", "temperate") the code is
the most common one for that name's buildings in the database; the encoder only uses the
main group and the precipitation / aridity letter, so the third letter rarely matters.
"""

from __future__ import annotations

from typing import Final

KOPPEN_BY_NAME: Final[dict[str, str]] = {
    "tropical rainforest": "Af",
    "wet equatorial": "Af",
    "tropical monsoon": "Am",
    "tropical wet savanna": "Aw",
    "tropical savanna": "Aw",
    "tropical dry savanna": "Aw",
    "tropical": "Aw",
    "hot arid": "BWh",
    "hot desert": "BWh",
    "desert (hot arid)": "BWh",
    "subtropical hot and dry": "BWh",
    "hot semi-arid": "BSh",
    "cold semi-arid": "BSk",
    "semi arid midlatitude": "BSk",
    "semi arid high altitude": "BSk",
    "humid subtropical": "Cfa",
    "monsoon-influenced humid subtropical": "Cwa",
    "monsoon-influenced temperate oceanic": "Cwb",
    "subtropical highland": "Cwb",
    "temperate oceanic": "Cfb",
    "temperate": "Cfb",
    "west coast marine": "Cfb",
    "temperature marine": "Cfb",
    "hot-summer mediterranean": "Csa",
    "mediterranean": "Csa",
    "warm-summer mediterranean": "Csb",
    "cool-summer mediterranean": "Csc",
    "humid midlatitude": "Dfa",
    "monsoon-influenced hot-summer humid continental": "Dwa",
    "warm-summer humid continental": "Dfb",
    "continental subarctic": "Dfc",
}
