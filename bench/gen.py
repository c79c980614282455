#!/usr/bin/env python3
"""Data generators for bench/run.sh (deterministic, no randomness, stdlib only).

  gen.py campaign N OUT local|e164   a campaign CSV: phone,nome,cupom
  gen.py results N OUT               a results file marking rows 1..N of the
                                     e164 campaign QUEUED, in the exact format
                                     campaign-sender writes today (see src/journal/,
                                     COLUMNS: no sender, target or message
                                     fingerprint recorded, as in older files),
                                     so a resume does not first rewrite it
  gen.py checked N OPEN OUT          the same after a status pass (delivery
                                     columns; no target either, so `status`
                                     takes it at any base URL, as an older
                                     file): OPEN rows spread evenly through
                                     the file still DELIVERED (a status pass
                                     looks them up), the others READ (final)
"""
import sys

# Brazilian area codes; the local part is a mobile number 9 6xxx-xxxx (valid in
# libphonenumber's BR metadata), distinct for every row.
AREAS = ["11", "21", "31", "41", "51", "61", "71", "81", "85", "19"]
NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor"]


def number(i):
    area = AREAS[i % len(AREAS)]
    local = 960000000 + i // len(AREAS)
    return area, str(local)


def local_cell(i):
    area, n = number(i)
    return f"({area}) {n[:5]}-{n[5:]}"


def e164_cell(i):
    area, n = number(i)
    return f"+55{area}{n}"


def campaign(rows, out, phones):
    cell = local_cell if phones == "local" else e164_cell
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("phone,nome,cupom\n")
        buf = []
        for i in range(rows):
            buf.append(f"{cell(i)},{NAMES[i % len(NAMES)]} {i},BF{i:07d}\n")
            if len(buf) == 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


ID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_like(i):
    s = []
    for _ in range(26):
        s.append(ID[i % 32])
        i //= 32
    return "".join(reversed(s))


def sent(i):
    """Row i's cells up to rawDestination, as a send that queued it wrote them."""
    d = e164_cell(i)
    s, ms = divmod(i, 1000)
    at = f"2026-01-15T{12 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms:03d}Z"
    return f"{i + 1},{d},QUEUED,msg_{ulid_like(i)},corr_{ulid_like(i * 7 + 3)},202,,,1,{at},{d}"


def write(out, header, rows, line):
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write(header)
        buf = []
        for i in range(rows):
            buf.append(line(i))
            if len(buf) == 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def results(rows, out):
    header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,target,message\n"
    write(out, header, rows, lambda i: sent(i) + ",,,\n")


def checked(rows, open_rows, out):
    header = (
        "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,"
        "sentAt,rawDestination,sender,target,message,deliveryStatus,deliveredAt,readAt,deliveryError,"
        "checkedAt\n"
    )
    every = rows // open_rows if open_rows else rows + 1

    def line(i):
        read = "" if (i + 1) % every == 0 else "2026-01-16T10:00:00Z"
        status = "READ" if read else "DELIVERED"
        return (
            f"{sent(i)},,,,{status},2026-01-15T13:00:00Z,{read},,"
            "2026-01-16T11:00:00Z\n"
        )

    write(out, header, rows, line)


def main():
    what = sys.argv[1]
    if what == "campaign":
        campaign(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif what == "results":
        results(int(sys.argv[2]), sys.argv[3])
    elif what == "checked":
        checked(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
