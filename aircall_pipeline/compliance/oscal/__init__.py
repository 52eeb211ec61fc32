"""OSCAL output of the day's checks: what compliance platforms take in.

- `controls.py`: the controls the catalogue maps to, as a small local OSCAL catalog (`catalog.json`,
  ids and our own short titles only: the standards' text is not ours to copy), and the OSCAL id of
  each catalogue mapping (`SOC2:CC6.2` -> `soc2-cc6.2`).
- `assessment.py`: `assessment-results.json` of one sealed day, built with compliance-trestle's
  models so that what is written is what the OSCAL schema accepts.

Plain modules (no Dagster): the evidence store seals these files next to report.html.
"""
