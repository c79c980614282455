#!/usr/bin/env python3
"""Baseline for the preflight figure: what a user would write with csv + phonenumbers.

Reads the campaign CSV, normalizes each phone to E.164 (with a default region, or none
for numbers already written with +), refuses invalid and duplicate numbers, and prints
one JSON body per row on stdout, like `campaign-sender --dry-run`.

  baseline_preflight.py CSV TEMPLATE [REGION]
"""
import csv
import json
import sys

import phonenumbers


def main():
    path, template = sys.argv[1], sys.argv[2]
    region = sys.argv[3] if len(sys.argv) > 3 else None
    seen = set()
    valid = invalid = 0
    out = sys.stdout
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            raw = row.pop("phone").strip()
            try:
                n = phonenumbers.parse(raw, region)
                ok = phonenumbers.is_valid_number(n)
            except phonenumbers.NumberParseException:
                ok = False
            if not ok:
                invalid += 1
                continue
            e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            if e164 in seen:
                invalid += 1
                continue
            seen.add(e164)
            valid += 1
            body = {
                "destinationNumber": e164,
                "templateId": template,
                "variables": {k: v.strip() for k, v in row.items() if v.strip()},
            }
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
    print(f"valid {valid} invalid {invalid}", file=sys.stderr)


if __name__ == "__main__":
    main()
