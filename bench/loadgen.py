"""A small load generator for the serving benchmark: N keep-alive clients, a bounded request
count, raw HTTP/1.1 over asyncio (so the client costs little CPU). Run as its own process:

    python bench/loadgen.py --url http://127.0.0.1:8000/path --body body.json --clients 10 \
        --requests 3000 [--header "Authorization: Bearer KEY"]

Prints one JSON line: requests, failures, seconds, throughput, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _client(host: str, port: int, request: bytes, count: list[int], total: int,
                  latencies: list[float], failures: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while count[0] < total:
            count[0] += 1
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if b" 200 " not in status_line:
                failures.append(1)
    finally:
        writer.close()


async def run(url: str, body: bytes, headers: list[str], clients: int, total: int) -> dict:
    parts = urlsplit(url)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}",
            "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    count, latencies, failures = [0], [], []
    start = time.perf_counter()
    await asyncio.gather(*(_client(parts.hostname, parts.port, request, count, total,
                                   latencies, failures) for _ in range(clients)))
    seconds = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "failures": len(failures), "seconds": round(seconds, 3),
            "throughput": round(n / seconds, 1),
            "p50_ms": round(latencies[n // 2] * 1000, 3),
            "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        body = handle.read()
    print(json.dumps(asyncio.run(run(args.url, body, args.header, args.clients,
                                     args.requests))))


if __name__ == "__main__":
    main()
