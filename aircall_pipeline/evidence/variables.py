"""The names of the environment variables the evidence library speaks of in its messages.

Names only, never values: reading the variables is the application's job (settings.py, which
imports these names from here), so that the library never imports the application's configuration.
"""

from __future__ import annotations

SIGNING_KEY_VAR = "EVIDENCE_SIGNING_KEY"
PUBLIC_KEY_VAR = "EVIDENCE_PUBLIC_KEY"
TSA_URL_VAR = "EVIDENCE_TSA_URL"  # RFC 3161 time-stamping authorities, tried in order (timestamping.py)
TSA_CA_VAR = "EVIDENCE_TSA_CA"  # PEM file of the TSA root(s) `verify` trusts
