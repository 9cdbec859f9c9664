"""Screenshots of what a user sees, for the README: TensorBoard's curves, Images and HParams tabs, and a sweep's
report.html, from a real 2 x 2 sweep and a single run trained here (about a minute on 2 cores).

    python scripts/screenshots.py [--out docs/screenshots]        # or: make screenshots

Needs Debian's Chromium and ChromeDriver (`apt-get install chromium chromium-driver`) and selenium (a dev
dependency). TensorBoard serves the runs on a free local port (`LoopbackServer`, which the tests also use for
TensorBoard, MLflow and optuna-dashboard); the pictures are saved as 256-colour PNGs, small enough for git.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from PIL import Image

from studykit.config.compose import PROJECT_ROOT

WIDTH, HEIGHT = 1400, 900
# Every element of the page, shadow DOMs included (TensorBoard's HParams tab is made of Polymer elements).
ALL_ELEMENTS = """
function all(root, out) {
  for (const element of root.querySelectorAll('*')) {
    out.push(element);
    if (element.shadowRoot) all(element.shadowRoot, out);
  }
  return out;
}
"""


class LoopbackServer:
    """`command` (with `{port}` in it) serving on a free loopback port while inside `with`, answering JSON."""

    def __init__(self, command: list[str], ready: str):
        """`ready`: a path that answers once the server is up."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.ready = ready

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url + self.ready, timeout=30).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"{self.command[0]} did not start") from None
                time.sleep(0.5)

    def get(self, path: str, **query):
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict):
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


def tensorboard_server(log_dir: Path) -> LoopbackServer:
    """`tensorboard --logdir log_dir` on a free loopback port, while inside `with`."""
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1"]
    return LoopbackServer([*command, "--port", "{port}"], ready="/data/runs")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(flag)
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def tick(driver, labels: dict[str, bool]) -> None:
    """Set TensorBoard's column checkboxes by their labels, as a user would click them."""
    driver.execute_script(
        ALL_ELEMENTS
        + """
        for (const box of all(document, []).filter(element => element.tagName === 'PAPER-CHECKBOX')) {
          const label = (box.textContent || '').trim().split('\\n')[0].trim();
          if (label in arguments[0] && box.checked !== arguments[0][label]) box.click();
        }""",
        labels,
    )


def save(driver, path: Path) -> None:
    driver.save_screenshot(str(path))
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} kB)")


def train(log_dir: Path) -> Path:
    environment = os.environ | {"LOG_DIR": str(log_dir)}
    for arguments in (["-m", "model.hidden=10,40", "model.act=relu,tanh"], []):
        command = [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *arguments, "trainer.max_epochs=40"]
        subprocess.run(
            [*command, "callbacks.progress_bar.enabled=false"], env=environment, check=True, capture_output=True
        )
    (sweep,) = (log_dir / "multirun").iterdir()
    return sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as log_dir:
        sweep = train(Path(log_dir))
        with tensorboard_server(Path(log_dir)) as server:
            driver = browser()
            try:
                driver.get(f"{server.url}/#timeseries")
                time.sleep(8)
                save(driver, args.out / "tensorboard_curves.png")
                driver.get(f"{server.url}/#images")
                time.sleep(5)
                save(driver, args.out / "tensorboard_images.png")
                driver.get(f"{server.url}/#hparams")
                time.sleep(5)
                tick(driver, {"best_epoch": False, "epochs": False, "val_acc": True, "test_acc": True})
                time.sleep(2)
                save(driver, args.out / "tensorboard_hparams.png")
                driver.set_window_size(WIDTH, 2000)
                driver.get((sweep / "report.html").as_uri())
                time.sleep(2)
                save(driver, args.out / "report.png")
            finally:
                driver.quit()


if __name__ == "__main__":
    main()
