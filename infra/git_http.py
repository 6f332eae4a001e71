#!/usr/bin/env python3
"""Git's smart HTTP on 127.0.0.1: a small CGI server in front of Debian's git-http-backend.

    git_http.py --root DIR --port PORT [--token-file FILE] [--tls-port PORT --cert PEM --key PEM]

Serves http://127.0.0.1:PORT/NAME.git for every bare repository NAME.git under DIR, and
with --tls-port the same over https (the certificate and key given, e.g. signed by a test
CA). With --token-file, repositories whose name starts with "private-" answer 401 unless
the request carries HTTP basic auth whose password is the file's content (any user name):
the wrong-token and token-auth tests of the source-control connector.

A repository holding a file named ferry-corrupt-pack answers fetches with a damaged
packfile (one byte of the first object's data flipped, the framing intact): the
corrupt-pack tests. Remove the file and the repository answers normally again.
"""
import argparse
import base64
import http.server
import os
import ssl
import subprocess
import sys
import threading

CORRUPT_MARKER = "ferry-corrupt-pack"
# The byte of the pack that is flipped: past the 12-byte header, inside the first
# object's compressed data.
CORRUPT_OFFSET = 32


def damage_pack(payload):
    """Flips the pack byte at CORRUPT_OFFSET of an upload-pack answer's side-band 1 data."""
    out = bytearray(payload)
    i, seen = 0, 0
    while i + 4 <= len(out):
        try:
            n = int(out[i : i + 4], 16)
        except ValueError:
            break
        if n < 4:  # flush, delimiter or response-end packet
            i += 4
            continue
        start, end = i + 4, i + n
        if end > len(out):
            break
        if out[start] == 1:  # side band 1: pack data
            data, length = start + 1, end - start - 1
            if seen <= CORRUPT_OFFSET < seen + length:
                out[data + CORRUPT_OFFSET - seen] ^= 0xFF
                return bytes(out)
            seen += length
        i = end
    return bytes(out)

BACKEND = os.path.join(subprocess.check_output(["git", "--exec-path"], text=True).strip(), "git-http-backend")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def authorized(self, path):
        token_file = self.server.token_file
        if not token_file or not path.lstrip("/").startswith("private-"):
            return True
        with open(token_file) as f:
            token = f.read().strip()
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        return password == token

    def cgi(self):
        path, _, query = self.path.partition("?")
        if not self.authorized(path):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run([BACKEND], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        repo = path.lstrip("/").split("/")[0]
        if path.endswith("/git-upload-pack") and os.path.exists(
            os.path.join(self.server.root, repo, CORRUPT_MARKER)
        ):
            payload = damage_pack(payload)
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        sys.stderr.write("git_http: " + (fmt % args) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token-file")
    p.add_argument("--tls-port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    servers = [serve(a.port, a)]
    if a.tls_port:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(a.cert, a.key)
        tls = serve(a.tls_port, a)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        servers.append(tls)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def serve(port, a):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.root = os.path.abspath(a.root)
    server.token_file = a.token_file
    return server


if __name__ == "__main__":
    main()
