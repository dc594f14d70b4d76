"""mediamtx on free loopback ports, and FFmpeg publishers a test can kill and restart."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from localcluster.pki import CertificateAuthority
from localcluster.processes import Component, ComponentFailed, free_port, log_tail, stop_pidfile

from .toolchain import ensure_mediamtx

CONFIG = """\
logLevel: info
logDestinations: [stdout]
api: yes
apiAddress: 127.0.0.1:{api}
metrics: no
pprof: no
playback: no
rtsp: yes
rtspTransports: [tcp]
rtspAddress: 127.0.0.1:{rtsp}
rtspEncryption: "optional"
rtspsAddress: 127.0.0.1:{rtsps}
rtspServerKey: {key}
rtspServerCert: {cert}
rtmp: no
hls: no
webrtc: no
srt: no
paths:
  all_others:
"""


class RtspServer:
    """Plain RTSP and RTSPS (a certificate for 127.0.0.1 from a test CA) on the same paths."""

    def __init__(self, workdir: Path, binary: Path | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or ensure_mediamtx()
        self.rtsp_port = 0
        self.rtsps_port = 0
        self.api_port = 0
        self._component: Component | None = None
        self.publishers: list[Publisher] = []

    def start(self, attempts: int = 3) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tls = CertificateAuthority(self.workdir / "pki").issue(
            "rtsps", "127.0.0.1", server=True, ips=("127.0.0.1",)
        )
        for _ in range(attempts):
            self.rtsp_port, self.rtsps_port, self.api_port = free_port(), free_port(), free_port()
            config = self.workdir / "mediamtx.yml"
            config.write_text(CONFIG.format(
                api=self.api_port, rtsp=self.rtsp_port, rtsps=self.rtsps_port,
                key=tls.key, cert=tls.cert,
            ))
            self._component = Component(
                "mediamtx",
                [str(self.binary), str(config)],
                log=self.workdir / "mediamtx.log",
                pidfile=self.workdir / "mediamtx.pid",
            )
            self._component.start()
            try:
                self._wait_api(timeout=20.0)
                return
            except ComponentFailed:
                if not self._component.port_clash():
                    raise
                stop_pidfile(self._component.pidfile)
        raise ComponentFailed(f"mediamtx found no free ports in {attempts} attempts")

    def _wait_api(self, timeout: float) -> None:
        assert self._component is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._component.exited() is not None:
                raise self._component.failure("exited")
            try:
                self._api("/v3/paths/list")
                return
            except OSError:
                time.sleep(0.1)
        raise self._component.failure(f"did not answer within {timeout:g} s")

    def _api(self, path: str) -> dict[str, object]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}{path}", timeout=2) as r:
            answer: dict[str, object] = json.load(r)
            return answer

    def url(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{path}"

    def secure_url(self, path: str) -> str:
        return f"rtsps://127.0.0.1:{self.rtsps_port}/{path}"

    def ready(self, path: str) -> bool:
        """Whether a publisher is streaming on the path."""
        try:
            return bool(self._api(f"/v3/paths/get/{path}").get("ready"))
        except urllib.error.HTTPError:
            return False

    def wait_ready(self, path: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready(path):
                return
            time.sleep(0.1)
        raise TimeoutError(f"nothing published on {path} within {timeout:g} s; log:\n{self.log()}")

    def publish(self, path: str, video: Path, *, wait: bool = True) -> Publisher:
        publisher = Publisher(self.url(path), video, self.workdir / f"publish-{path}.log")
        publisher.start()
        self.publishers.append(publisher)
        if wait:
            self.wait_ready(path)
        return publisher

    def log(self) -> str:
        return log_tail(self.workdir / "mediamtx.log")

    def stop(self) -> None:
        for publisher in self.publishers:
            publisher.stop()
        if self._component is not None:
            stop_pidfile(self._component.pidfile)


class Publisher:
    """`ffmpeg -re -stream_loop -1 -i video -c copy -f rtsp url`: a camera that streams forever."""

    def __init__(self, url: str, video: Path, log: Path) -> None:
        self.url = url
        self.video = video
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            "ffmpeg", "-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1",
            "-i", str(self.video), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", self.url,
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def pause(self) -> None:
        """The camera hangs: its connection stays open and nothing more is sent."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """The camera dies: no goodbye to the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
