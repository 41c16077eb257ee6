"""``schema recording|playbook|report``: print a JSON Schema, for editors and for consumers
of ``-o json``. The schemas come from the pydantic models, so they cannot drift from the code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

SCHEMAS = ("recording", "playbook", "report", "trace")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of a recording, a playbook, the report or a trace",
        description="Print a JSON Schema (draft 2020-12) on stdout, e.g. for editor validation of playbooks.",
    )
    p.add_argument("which", choices=SCHEMAS, metavar="SCHEMA", help="recording, playbook, report or trace (istio-doctor trace -o json)")
    p.set_defaults(handler=run)


def schema_for(which: str) -> dict[str, Any]:
    if which == "recording":
        from istio_doctor.evidence.recording import recording_json_schema

        schema = recording_json_schema()
    elif which == "playbook":
        from istio_doctor.engine.playbook import playbook_json_schema

        schema = playbook_json_schema()
    elif which == "report":
        from istio_doctor.report.model import report_json_schema

        schema = report_json_schema()
    elif which == "trace":
        from istio_doctor.engine.trace.model import Trace

        schema = Trace.model_json_schema()
    else:
        raise ValueError(f"unknown schema {which!r}")
    # pydantic omits the dialect; editors pick the right validator when it is named
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(schema_for(args.which), indent=2) + "\n")
    return 0
