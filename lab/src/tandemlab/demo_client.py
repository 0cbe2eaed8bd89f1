"""The demo's client (runs inside the lab's client namespace): resolve a name, then request every address
it has every ``--interval`` seconds, one new TCP connection per request, and write one JSON line per
request to ``--out``.

    python -m tandemlab.demo_client resolve --name N --server S
    python -m tandemlab.demo_client run --name N --server S --interval 0.02 --out FILE

``resolve`` prints the A record set as JSON ({"addresses": [...], "ttl": T}). ``run`` re-resolves each
TTL and writes ``{"t": start (epoch s), "vip": address, "ok": bool, "ms": latency, "balancer": X-Balancer,
"backend": body, "error": text}`` per request until SIGTERM or SIGINT. A request is ok when it gets a 200
within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time

import dns.message
import dns.query
import dns.rdatatype


def resolve(name: str, server: str) -> dict:
    answer = dns.query.udp(dns.message.make_query(name, "A"), server, port=53, timeout=3).answer
    rrsets = [rrset for rrset in answer if rrset.rdtype == dns.rdatatype.A]
    return {
        "addresses": sorted(item.address for rrset in rrsets for item in rrset),
        "ttl": rrsets[0].ttl if rrsets else None,
    }


async def request(address: str, host: str, timeout: float) -> dict:
    started = time.time()
    record = {"t": round(started, 4), "vip": address, "ok": False, "balancer": None, "backend": None}
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, 80)
            writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            response = await reader.read()
        head, _, body = response.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = lines[0].split()[1] if len(lines[0].split()) > 1 else "?"
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        record["balancer"] = headers.get("X-Balancer")
        record["ok"] = status == "200"
        record["backend"] = body.decode(errors="replace").strip() or None if record["ok"] else None
        if not record["ok"]:
            record["error"] = f"HTTP {status}"
    except TimeoutError:
        record["error"] = "timeout"
    except OSError as error:
        record["error"] = error.strerror or type(error).__name__
    except Exception as error:  # a garbled answer is a failed request, never a dead client
        record["error"] = f"{type(error).__name__}: {error}"
    finally:
        if writer is not None:
            writer.close()
    record["ms"] = round((time.time() - started) * 1000, 1)
    return record


async def run(name: str, server: str, interval: float, timeout: float, out: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host = name.rstrip(".")
    answer = resolve(name, server)
    resolved_at = time.monotonic()
    tasks: set[asyncio.Task] = set()
    with open(out, "a", buffering=1) as sink:
        sink.write(json.dumps({"t": round(time.time(), 4), "dns": answer}) + "\n")

        def done(task: asyncio.Task) -> None:
            tasks.discard(task)
            sink.write(json.dumps(task.result()) + "\n")

        next_at = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - resolved_at >= (answer["ttl"] or 10):
                with contextlib.suppress(Exception):
                    answer = resolve(name, server)
                    sink.write(json.dumps({"t": round(time.time(), 4), "dns": answer}) + "\n")
                resolved_at = time.monotonic()
            for address in answer["addresses"]:
                task = asyncio.create_task(request(address, host, timeout))
                tasks.add(task)
                task.add_done_callback(done)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tandemlab.demo_client")
    parser.add_argument("mode", choices=["resolve", "run"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.mode == "resolve":
        print(json.dumps(resolve(args.name, args.server)), flush=True)
    else:
        asyncio.run(run(args.name, args.server, args.interval, args.timeout, args.out))


if __name__ == "__main__":
    main()
