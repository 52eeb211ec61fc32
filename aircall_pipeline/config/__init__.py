"""Configuration: pydantic models of the environment (settings.py), the accounts file (accounts.py),
an account's credentials (credentials.py) and the compliance policy (policy.py), each loaded once
and refused with one error that names the variable, or the file and line. Imports nothing here."""
