"""A loopback HTTP server for fetch tests: files from a folder with ETag and Last-Modified,
304 for conditional requests that match, and a switch to answer 5xx.

    h = Httpd(folder).start();  h.url("psbl.txt")
    h.fail_with = 503           # every request answers 503 until set back to None
    h.requests                  # [(path, {header: value}, status)] as seen
    h.posts                     # [(path, {header: value}, body bytes)]: POSTs (webhooks),
                                # answered 204 (or fail_with)
"""
from __future__ import annotations

import email.utils
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Httpd:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fail_with: int | None = None
        self.requests: list[tuple[str, dict, int]] = []
        self.posts: list[tuple[str, dict, bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def url(self, name: str) -> str:
        assert self.server is not None, "Httpd.start() first"
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def start(self) -> Httpd:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                headers = {k: v for k, v in self.headers.items()}
                status = self._answer()
                outer.requests.append((self.path, headers, status))

            def do_POST(self):
                headers = {k: v for k, v in self.headers.items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.fail_with:
                    self.send_error(outer.fail_with)
                else:
                    outer.posts.append((self.path, headers, body))
                    self.send_response(204)
                    self.end_headers()

            def _answer(self) -> int:
                if outer.fail_with:
                    self.send_error(outer.fail_with)
                    return outer.fail_with
                path = outer.folder / self.path.lstrip("/")
                try:
                    body = path.read_bytes()
                    mtime = path.stat().st_mtime
                except OSError:
                    self.send_error(404)
                    return 404
                etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                lm = email.utils.formatdate(mtime, usegmt=True)
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                not_modified = inm == etag if inm is not None else (
                    ims is not None and email.utils.parsedate_to_datetime(ims).timestamp()
                    >= int(mtime))
                if not_modified:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return 304
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", lm)
                self.end_headers()
                self.wfile.write(body)
                return 200

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
