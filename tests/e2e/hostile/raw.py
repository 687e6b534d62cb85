"""Raw sockets for the checks that http.client cannot express: connections that send nothing or
half a request, HTTP/2 frames written by hand, declared lengths that never arrive, stalled
bodies. Standard library only."""

import socket
import struct
import threading
import time
import urllib.parse

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY, HEADERS = 0x4, 0x6, 0x7, 0x1
ACK, END_STREAM, END_HEADERS = 0x1, 0x1, 0x4


def port_of(base):
    return urllib.parse.urlsplit(base).port


def connect(base, source="127.0.0.1", timeout=60):
    return socket.create_connection(
        ("127.0.0.1", port_of(base)), timeout=timeout, source_address=(source, 0)
    )


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def read_frame(sock):
    """The next HTTP/2 frame as (kind, flags, stream, payload), or None once closed."""
    header = _read_exact(sock, 9)
    if header is None:
        return None
    length = struct.unpack(">I", b"\0" + header[:3])[0]
    payload = _read_exact(sock, length)
    if payload is None:
        return None
    return header[3], header[4], struct.unpack(">I", header[5:])[0] & 0x7FFFFFFF, payload


def _read_exact(sock, count):
    data = b""
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def h2_get(path):
    """Preface, empty SETTINGS and `GET path` on stream 1 (HPACK literals, no Huffman)."""
    block = bytes([0x82, 0x86, 0x04, len(path)]) + path.encode() + bytes([0x01, 0x01]) + b"x"
    return H2_PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_STREAM | END_HEADERS, 1, block)


def wait_closed(sock, limit):
    """Seconds until the server closes `sock` (end of file or reset), or None after `limit`."""
    started = time.monotonic()
    sock.settimeout(0.5)
    while time.monotonic() - started < limit:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def read_reply(sock, limit):
    """One HTTP/1.1 answer as (status, body bytes), or None if it does not come within `limit`."""
    sock.settimeout(limit)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body[:length]
    except (OSError, ValueError, IndexError):
        return None


def in_parallel(jobs):
    """Runs the callables at once and returns their results in order."""
    results = [None] * len(jobs)

    def run(index, job):
        results[index] = job()

    threads = [threading.Thread(target=run, args=(index, job), daemon=True) for index, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
