"""aircall_pipeline: Aircall account -> daily, verifiable compliance evidence, orchestrated by Dagster.

Every pin below is exact on purpose: evidence must be reproducible, and the Dagster libraries
only work as a matched set (dagster-<lib> 0.29.N requires dagster 1.13.N exactly).
"""

from pathlib import Path

from setuptools import find_packages, setup

VERSION = (Path(__file__).parent / "aircall_pipeline" / "VERSION").read_text().strip()

DAGSTER = "1.13.27"  # the newest core that every integration library below still matches
DAGSTER_LIBS = "0.29.27"

setup(
    name="aircall_pipeline",
    version=VERSION,
    description="Dagster pipeline turning an Aircall account into daily, tamper-evident compliance evidence on S3.",
    packages=find_packages(exclude=["aircall_pipeline_tests", "aircall_pipeline_tests.*"]),
    # The report page's template (evidence/report.py) and the OSCAL control catalog are read at run time.
    package_data={"aircall_pipeline": ["VERSION", "py.typed", "evidence/templates/*.j2", "compliance/oscal/*.json"]},
    python_requires=">=3.11",  # pandas 3 needs 3.11
    install_requires=[
        f"dagster=={DAGSTER}",
        f"dagster-webserver=={DAGSTER}",  # `make dev` and the UI test
        f"dagster-dg-cli=={DAGSTER}",  # `dg check defs`, `dg dev`; stops at 1.13.27 on PyPI
        f"dagster-aws=={DAGSTER_LIBS}",  # S3Resource (boto3) under the evidence store
        "slack-sdk==3.48.0",  # the Slack alert sink (chat.postMessage through its WebClient)
        "requests==2.34.2",
        "urllib3==2.8.0",  # the webhook alert sink's Retry (also a requests dependency, pinned here since we import it)
        "pyrate-limiter[filelock]==4.5.1",  # v4 API; the file lock makes the SQLite bucket safe across processes
        "redis==8.1.0",  # the limiter's multi-host backend (AIRCALL_LIMITER_URL=redis://...)
        "pandas==3.1.1",  # never add dagster-pandas: it pins pandas<3
        "pyarrow==26.0.1",
        "jinja2==3.1.6",  # report.html's template, autoescaped (also a Dagster dependency, pinned here since we import it)
        "pyyaml==6.0.4",  # the compliance policy file (also a Dagster dependency, pinned here since we import it)
        "pydantic==2.14.4",  # strict schemas of everything `verify` parses (also a Dagster dependency, pinned here)
        "rfc3161-client==1.0.9",  # RFC 3161 timestamp tokens (EVIDENCE_TSA_URL), checked offline by `verify`
        "compliance-trestle==5.2.0",  # OSCAL models: each day's assessment-results.json is built and validated with them
        "weasyprint==70.0",  # report.pdf from report.html's template (needs the system's Pango, see scripts/)
    ],
    extras_require={
        "postgres": [f"dagster-postgres=={DAGSTER_LIBS}", "psycopg2-binary==2.9.13"],
        "k8s": [f"dagster-k8s=={DAGSTER_LIBS}"],
        "dev": [
            "pytest==9.0.3",
            "pytest-timeout==2.4.0",
            "moto[server]==5.2.5",  # a real S3 endpoint on loopback for the tests
            "playwright==1.65.2",  # driven against Debian's chromium, never its own browser download
            "ruff==0.17.5",
            "import-linter==2.17",  # `make lint`: the layer contract (pyproject.toml [tool.importlinter])
            "hypothesis==6.170.17",  # property tests of the verifier against arbitrary mutations
            "pytest-xdist==3.8.0",  # make test: two workers, one test file each at a time (--dist loadfile)
            "pypdfium2==5.15.2",  # rasterises report.pdf in a test, to look at the page as a reader does
        ],
    },
    entry_points={"console_scripts": ["aircall-pipeline=aircall_pipeline.cli:main"]},
)
