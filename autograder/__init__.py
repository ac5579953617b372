"""Maths for Deep Learning autograder."""

import sys

# nbformat imports jsonschema, which builds a whole RFC 3987 parser (the optional package
# rfc3987_syntax, with lark) at import time: about 1.3 s of CPU for every mdl command, for the
# draft-7 "iri" formats that no schema read here uses (nbformat's schemas are draft 4).  Marked
# absent, jsonschema just does not register those two format checks.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
