"""TCP relays for bench_display.py: count the bytes a remote-display system sends (both ways),
optionally throttle the server-to-client direction with a token bucket (a slow link), and for
VNC count the viewer's incremental full-screen FramebufferUpdateRequests (one per update the
viewer took: how RFB viewers pace themselves). Also a sink that stores what a streamer pushes and
can feed it to a live decoder."""

import socket
import subprocess
import threading
import time

CHUNK = 65536


class Relay:
    """Listens on 127.0.0.1:<port> and forwards each connection to target (host, port).

    rate_bytes_s: if set, the target-to-client direction is limited to that rate by a token
    bucket (burst = 16 kB) and the relay's socket buffers are kept small (64 kB), so a backlog
    builds up in the sender, as behind a real bottleneck, not in the relay.
    watch_upstream: if set, a callable fed every client-to-target chunk (e.g. an RFB counter)."""

    def __init__(self, target, rate_bytes_s=None, watch_upstream=None, name="relay"):
        self.target = target
        self.rate = rate_bytes_s
        self.watch_upstream = watch_upstream
        self.name = name
        self.lock = threading.Lock()
        self.down = 0  # target -> client (what the server sends)
        self.up = 0    # client -> target
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name=name).start()

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def counts(self):
        with self.lock:
            return self.down, self.up

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.socket()
            if self.rate:
                upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()

    def _pump(self, src, dst, downstream):
        tokens, last = 16384.0, time.monotonic()
        try:
            while True:
                want = CHUNK
                if downstream and self.rate:
                    while True:
                        now = time.monotonic()
                        tokens = min(16384.0, tokens + (now - last) * self.rate)
                        last = now
                        if tokens >= 1024:
                            break
                        time.sleep((1024 - tokens) / self.rate)
                    want = int(tokens)
                data = src.recv(want)
                if not data:
                    break
                if downstream and self.rate:
                    tokens -= len(data)
                dst.sendall(data)
                with self.lock:
                    if downstream:
                        self.down += len(data)
                    else:
                        self.up += len(data)
                if not downstream and self.watch_upstream:
                    self.watch_upstream(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.closed = True
        self.sock.close()


class RfbRequestCounter:
    """Counts incremental FramebufferUpdateRequests for the whole screen in the viewer's stream
    (type 3, incremental 1, x 0, y 0, w, h: a fixed 10-byte pattern). With -viewonly the viewer
    sends little else, and a pattern split across two chunks is caught by keeping a tail."""

    def __init__(self, width, height):
        self.pattern = bytes([3, 1, 0, 0, 0, 0]) + width.to_bytes(2, "big") + height.to_bytes(2, "big")
        self.tail = b""
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, data):
        buf = self.tail + data
        n = buf.count(self.pattern)
        self.tail = buf[-(len(self.pattern) - 1):]
        with self.lock:
            self.count += n

    def value(self):
        with self.lock:
            return self.count


class Sink:
    """Accepts connections and stores everything received in path (one stream at a time). With
    an ssl.SSLContext it is a TLS server (the DIY stream then carries TLS, as Portico's does).
    decoder: argv of a process that gets the stream on its stdin as it arrives (a client decoding
    live on the same machine, as Portico's client does while it is measured: its CPU competes
    with the streamer's for the same cores)."""

    def __init__(self, path, tls=None, decoder=None, decoder_log=None):
        self.path = path
        self.tls = tls
        self.decoder = decoder
        self.decoder_log = decoder_log
        self.decoder_proc = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        with open(self.path, "wb") as f:
            while True:
                try:
                    c, _ = self.sock.accept()
                    if self.tls:
                        c = self.tls.wrap_socket(c, server_side=True)
                except OSError:  # includes a failed TLS handshake
                    if self.sock.fileno() < 0:
                        return
                    continue
                live = self._start_decoder()
                with c:
                    while True:
                        try:
                            data = c.recv(CHUNK)
                        except OSError:
                            break
                        if not data:
                            break
                        f.write(data)
                        f.flush()
                        if live:
                            try:
                                live.stdin.write(data)
                                live.stdin.flush()
                            except OSError:  # the decoder failed: its log says why
                                live = None
                if live:
                    live.stdin.close()

    def _start_decoder(self):
        if not self.decoder:
            return None
        log = open(self.decoder_log, "ab") if self.decoder_log else subprocess.DEVNULL
        self.decoder_proc = subprocess.Popen(self.decoder, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=log)
        return self.decoder_proc

    def close(self):
        self.sock.close()
        if self.decoder_proc and self.decoder_proc.poll() is None:
            self.decoder_proc.terminate()
            self.decoder_proc.wait(timeout=10)
