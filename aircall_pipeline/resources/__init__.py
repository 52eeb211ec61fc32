"""The Dagster resources and the IO manager: thin ConfigurableResource adapters over the plain libraries
(the Aircall client, the evidence store, the compliance policy), under the fixed keys of names.py.
Imports nothing here."""
