"""Write rag/data/places.tsv (countries' names, demonyms, capitals and codes) from the countryinfo
package's data (MIT licence, countryinfo 1.0.1). Run once when the table should change:

    pip download countryinfo==1.0.1 --no-deps -d /tmp/ci && unzip -q /tmp/ci/*.whl -d /tmp/ci/x
    python tools/places_table.py /tmp/ci/x/countryinfo/data > rag/data/places.tsv
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = (
    "# Countries: name, demonym, capital, other names (|-separated), codes (|-separated), population.\n"
    "# From countryinfo 1.0.1 (MIT licence, (c) 2018 Porimol Chandro); written by tools/places_table.py.\n"
)


def row(d: dict) -> str | None:
    """One tab-separated line for a country's JSON record (None for records without a name)."""
    name = (d.get("name") or "").strip()
    if not name:
        return None
    alt = [a for a in d.get("altSpellings") or [] if isinstance(a, str)]
    others = [a for a in alt if " " in a and a.isascii() and a != name]
    codes = [a for a in alt if a.isascii() and a.isalpha() and a.isupper() and 2 <= len(a) <= 3]
    capital = d.get("capital") or ""
    capital = (capital[0] if isinstance(capital, list) and capital else capital if isinstance(capital, str) else "").strip()
    population = d.get("population") if isinstance(d.get("population"), int) else 0
    fields = [name, (d.get("demonym") or "").strip(), capital, "|".join(others), "|".join(codes), str(population)]
    return "\t".join(f.replace("\t", " ") for f in fields)


def main(folder: str) -> None:
    lines = [row(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(Path(folder).glob("*.json"))]
    sys.stdout.write(HEADER + "".join(f"{x}\n" for x in dict.fromkeys(lines) if x))


if __name__ == "__main__":
    main(sys.argv[1])
