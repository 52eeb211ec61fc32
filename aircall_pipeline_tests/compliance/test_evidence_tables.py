"""The day's table list (`names.EVIDENCE_TABLES`, which `verify` requires a manifest to list) and the
compliance assets that write those tables are one list: a rule added without its table, or a table
named differently from its asset, would make every sealed day fail `verify`."""

from aircall_pipeline.compliance.assets import RULES
from aircall_pipeline.compliance.catalogue import CHECKS
from aircall_pipeline.names import CHECK_IDS, EVIDENCE_TABLES, FINDINGS_TABLES, OWNER_TABLES, RAW_TABLES


def test_one_findings_table_per_rule_and_per_check():
    assert EVIDENCE_TABLES == RAW_TABLES + OWNER_TABLES + tuple(rule.asset_name for rule in RULES)
    assert FINDINGS_TABLES == tuple(spec.table for spec in CHECKS)
    assert CHECK_IDS == tuple(rule.spec.check_id for rule in RULES)
    assert CHECKS[0].table == "ac01_user_inventory"
