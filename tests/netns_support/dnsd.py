#!/usr/bin/env python3
"""A tiny DNS responder for the TUN tests: answers every A query with one
fixed address and appends "<peer ip> <name>" to a log file per query.
Usage: dnsd.py LISTEN_IP ANSWER_IP LOGFILE"""
import socket
import struct
import sys

listen, answer, log = sys.argv[1], sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((listen, 53))
while True:
    data, peer = sock.recvfrom(2048)
    if len(data) < 12:
        continue
    qid, _flags, qd = struct.unpack("!HHH", data[:6])
    # The question: labels up to the zero byte, then type and class.
    i, labels = 12, []
    while i < len(data) and data[i] != 0:
        n = data[i]
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    question = data[12 : i + 5]
    qtype = struct.unpack("!H", data[i + 1 : i + 3])[0] if i + 3 <= len(data) else 0
    with open(log, "a") as f:
        f.write(f"{peer[0]} {'.'.join(labels)}\n")
    if qtype == 1:
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton(answer)
        header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        sock.sendto(header + question + rr, peer)
    else:
        header = struct.pack("!HHHHHH", qid, 0x8180, 1, 0, 0, 0)
        sock.sendto(header + question, peer)
