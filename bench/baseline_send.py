#!/usr/bin/env python3
"""Baseline for the send figure: the plain script a user would write with csv + requests.

Sends every row of the campaign CSV sequentially (one keep-alive session) to
BASE_URL/v1/messages/send and appends a results line per row. No pacing, no retries, no
fsync: it does less than campaign-sender, so it is an upper bound for such a script.

  baseline_send.py CSV BASE_URL TEMPLATE RESULTS
"""
import csv
import os
import sys

import requests


def main():
    path, base_url, template, results = sys.argv[1:5]
    url = base_url.rstrip("/") + "/v1/messages/send"
    headers = {"x-api-key": os.environ.get("PILOT_STATUS_API_KEY", "")}
    session = requests.Session()
    ok = 0
    with open(path, newline="", encoding="utf-8") as f, open(results, "w", newline="") as r:
        out = csv.writer(r)
        out.writerow(["row", "destination", "status", "messageId"])
        for i, row in enumerate(csv.DictReader(f), start=1):
            phone = row.pop("phone").strip()
            body = {"destinationNumber": phone, "templateId": template, "variables": row}
            resp = session.post(url, json=body, headers=headers, timeout=30)
            message_id = resp.json().get("messageId", "") if resp.status_code == 202 else ""
            ok += resp.status_code == 202
            out.writerow([i, phone, resp.status_code, message_id])
    print(f"accepted {ok}", file=sys.stderr)


if __name__ == "__main__":
    main()
