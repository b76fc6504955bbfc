"""A local HTTP file server on 127.0.0.1 for the `quba data fetch` tests (no network).

    with FileServer({"a.tar": data}) as srv:
        srv.mode["a.tar"] = "drop"      # first answer: full Content-Length, half the body, connection closed
        url = srv.base                  # http://127.0.0.1:PORT/

Modes per file: "ok" (Range supported), "drop" (the first `drops` answers are cut half-way),
"404", "500", "stall" (headers and a few bytes, then silence for `stall_s`), "no-range" (ignores
Range, always 200), "slow" (`slow_bps` bytes per second). `requests` records (path, Range header)
of every request; `served` the body bytes sent per path.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.mode: dict[str, str] = {}
        self.drops = 1
        self.stall_s = 5.0
        self.slow_bps = 200_000
        self.requests: list[tuple[str, str | None]] = []
        self.served: dict[str, int] = {}
        self._drops_done: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                name = self.path.lstrip("/").split("?", 1)[0]
                rng = self.headers.get("Range")
                with server._lock:
                    server.requests.append((name, rng))
                mode = server.mode.get(name, "ok")
                if name not in server.files or mode == "404":
                    return self._plain(404, b"not found")
                if mode == "500":
                    return self._plain(500, b"server error")
                data = server.files[name]
                start = 0
                if rng and mode != "no-range" and rng.startswith("bytes="):
                    start = int(rng[6:].split("-", 1)[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if mode == "drop":
                    with server._lock:
                        done = server._drops_done.get(name, 0)
                        server._drops_done[name] = done + 1
                    if done < server.drops:
                        self._send(name, body[: len(body) // 2])
                        self.close_connection = True
                        return
                if mode == "stall":
                    self._send(name, body[:16])
                    time.sleep(server.stall_s)
                    self.close_connection = True
                    return
                if mode == "slow":
                    step = max(1, server.slow_bps // 20)
                    for k in range(0, len(body), step):
                        if not self._send(name, body[k:k + step]):
                            return
                        time.sleep(0.05)
                    return
                self._send(name, body)

            def _send(self, name, chunk) -> bool:
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    return False
                with server._lock:
                    server.served[name] = server.served.get(name, 0) + len(chunk)
                return True

            def _plain(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
