"""The web console in headless Chromium, against a real slipwayd with real slipway-agent processes.

Run by scripts/console-test.sh (which installs Chromium, chromedriver and selenium), or directly:
    python3 Tests/console/console_test.py --bin .build/debug --screenshots DIR
A user's path through the console: a wrong password, sign-in, a service's image config, a release, a
rollout started after reading its dry-run plan, paused and resumed, COMPLETE; a second rollout that an
instance fails, its reason in the instance table and on the instance's page, retry offered; a viewer who
sees no write buttons; sign-out. Each page is saved as a screenshot.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import slipwayd_server  # noqa: E402

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

API = "/2022-09-01-00"
ADMIN = ("admin@example.com", "console-admin-1")
VIEWER = ("viewer@example.com", "console-viewer-1")


class Server(slipwayd_server.Server):
    """slipwayd on a fresh SQLite file, on loopback, with the console's admin."""

    def __init__(self, binaries, work):
        super().__init__(binaries, work, ADMIN, database="console.sqlite")


def write_script(path, text):
    with open(path, "w") as script:
        script.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)


class Console:
    """Chromium over WebDriver, with the waits a person does by looking."""

    def __init__(self, base, screenshots):
        options = webdriver.ChromeOptions()
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update"]:
            options.add_argument(argument)
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        self.base = base
        self.screenshots = screenshots
        self.shots = 0

    def wait(self, what, condition, seconds=30):
        try:
            # The page redraws its tables as it polls: an element found just before a redraw is stale, which means
            # "look again", not a failure.
            return WebDriverWait(self.driver, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda driver: condition())
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(f"timed out after {seconds} s waiting for {what}; problem box: {self.problem()!r}") from None

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        found = self.all(css)
        return bool(found) and found[0].is_displayed()

    def text(self, css):
        found = self.all(css)
        return found[0].text if found else ""

    def problem(self):
        return self.text("#problem") if self.visible("#problem") else ""

    def click(self, css):
        self.wait(f"{css} to be clickable", lambda: self.visible(css) and self.find(css).is_enabled())
        self.find(css).click()

    def click_link(self, text):
        self.wait(f"a link '{text}'", lambda: self.driver.find_elements(By.LINK_TEXT, text))
        self.driver.find_element(By.LINK_TEXT, text).click()

    def confirm(self, expected_text):
        self.wait("the confirmation dialog", lambda: self.visible("#confirm"))
        assert expected_text in self.text("#confirm-text"), self.text("#confirm-text")
        self.click("#confirm-ok")
        self.wait("the dialog to close", lambda: not self.visible("#confirm"))

    def shot(self, name):
        self.shots += 1
        path = os.path.join(self.screenshots, f"{self.shots:02d}-{name}.png")
        self.driver.save_screenshot(path)
        return path

    def sign_in(self, email, password):
        self.wait("the sign-in form", lambda: self.visible("#signin"))
        for css, value in [("#email", email), ("#password", password)]:
            field = self.find(css)
            field.clear()
            field.send_keys(value)
        self.click("#signin-submit")

    def quit(self):
        self.driver.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug", help="where slipwayd and slipway-agent are")
    parser.add_argument("--screenshots", default=".build/console-screenshots")
    arguments = parser.parse_args()
    os.makedirs(arguments.screenshots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="slipway-console-")
    server = Server(arguments.bin, work)
    agents = []
    console = None
    try:
        # The catalog and a fleet of four, set up over the API as a script would.
        token = server.call("POST", "/signin", {"email": ADMIN[0], "password": ADMIN[1]})["jwtToken"]
        service = server.call("POST", "/service", {"name": "shop", "description": "The shop front"}, token)
        environment = server.call("POST", f"/service/{service}/environment", {"name": "prod"}, token)
        tier = server.call("POST", f"/service/{service}/product-tier", {"name": "basic", "serviceEnvironmentId": environment}, token)
        config = server.call("POST", f"/service/{service}/image-config",
                             {"description": "web", "imageName": "acme/web", "serviceEnvironmentId": environment, "imageTag": "1"}, token)
        server.call("POST", f"/service/{service}/image-config/{config}/release", None, token)
        server.call("POST", "/user", {"email": VIEWER[0], "password": VIEWER[1], "role": "viewer"}, token)
        applied = os.path.join(work, "applied.log")
        # Every instance applies in 0.3 s; node-03 fails on tag 3 with a reason of its own.
        write_script(os.path.join(work, "apply.sh"),
                     f'echo "$SLIPWAY_INSTANCE_ID $SLIPWAY_IMAGE" >> {applied}\nsleep 0.3\n')
        write_script(os.path.join(work, "apply-flaky.sh"),
                     f'echo "$SLIPWAY_INSTANCE_ID $SLIPWAY_IMAGE" >> {applied}\nsleep 0.3\n'
                     'case "$SLIPWAY_IMAGE" in *:3*) echo "disk full on node-03" >&2; exit 1;; esac\n')
        for index in range(4):
            name = f"node-{index:02d}"
            instance = server.call("POST", f"/service/{service}/environment/{environment}/instance",
                                   {"productTierId": tier, "name": name}, token)
            script = "apply-flaky.sh" if name == "node-03" else "apply.sh"
            log = open(os.path.join(work, f"agent-{name}.log"), "w")
            agents.append(subprocess.Popen(
                [os.path.join(arguments.bin, "slipway-agent"), "--server", server.base, "--token", instance["agentToken"],
                 "--apply-command", os.path.join(work, script), "--state-dir", os.path.join(work, f"state-{name}"), "--wait", "10"],
                stdout=log, stderr=subprocess.STDOUT))
        deadline = time.time() + 60
        while time.time() < deadline and (not os.path.exists(applied) or len(open(applied).read().splitlines()) < 4):
            time.sleep(0.2)
        assert len(open(applied).read().splitlines()) == 4, "every agent applied version 1.0"
        server.call("PATCH", f"/service/{service}/image-config/{config}", {"imageTag": "2"}, token)

        console = Console(server.base, arguments.screenshots)
        driver = console.driver

        # A wrong password shows the server's message, and the form stays.
        driver.get(server.base + "/ui/")
        console.sign_in(ADMIN[0], "not-the-password")
        console.wait("the refusal", lambda: "email or password" in console.problem())
        assert console.visible("#signin")
        console.shot("signin-refused")

        # Signed in: the form goes away with the password in it, the services show.
        console.sign_in(*ADMIN)
        console.wait("the services", lambda: console.visible("#services"))
        assert not console.visible("#signin"), "the sign-in form is gone once signed in"
        assert console.find("#password").get_attribute("value") == "", "the password is not left in the form"
        assert "admin@example.com (admin)" in console.text("#identity")
        assert "access" not in driver.current_url and "token" not in driver.current_url
        stored = driver.execute_script("return [Object.keys(localStorage).length, sessionStorage.getItem('slipway.session') !== null]")
        assert stored == [0, True], f"the session is in sessionStorage only: {stored}"
        console.shot("services")

        # The service: environments, image configs with their registry, product tiers.
        console.click_link("shop")
        console.wait("the service page", lambda: console.visible("#service") and "acme/web:2" in console.text("#service"))
        assert "docker.io" in console.text("#service") and "basic" in console.text("#service")
        console.shot("service")

        # The image config: release the working copy (tag 2) after confirming.
        console.click_link("web")
        console.wait("the image config page", lambda: console.visible("#image-config"))
        assert "1.0" in console.text(".tier") and "2.0" not in console.text(".tier")
        facts = console.text("#image-config dl")
        assert "acme/web:2" in facts and "docker.io" in facts and "Signature key\nnot set" in facts and config in facts, facts
        console.click("#release")
        console.confirm("Release acme/web:2")
        console.wait("tier version 2.0", lambda: "2.0" in console.text(".tier"))
        row = console.find("tr[data-version='2.0']").text
        assert "Preferred" in row and "acme/web:2" in row and "admin@example.com" in row, row
        console.shot("image-config")
        # Releasing again with nothing changed is refused: the server's message and error id show.
        console.click("#release")
        console.confirm("Release acme/web:2")
        console.wait("the refusal", lambda: "nothing changed since the last release" in console.problem())
        assert "(error id " in console.problem(), console.problem()

        # Start a rollout: the dry-run plan first, then the rollout on confirmation.
        for name, value in [("maxConcurrentUpgrades", "1"), ("bakeSeconds", "2")]:
            field = console.find(f"#start-rollout input[name={name}]")
            field.clear()
            field.send_keys(value)
        console.click("#review-rollout")
        console.wait("the plan", lambda: console.visible("#plan"))
        plan = console.text("#plan")
        assert "4 instance(s) move in 4 wave(s)" in plan, plan
        assert len(console.all("#plan tr.eligible")) == 4
        console.shot("rollout-plan")
        console.confirm("Start this rollout?")
        console.wait("the rollout page", lambda: console.visible("#rollout"))
        console.wait("the rollout running", lambda: console.text("#rollout-status") == "RUNNING")

        # Pause and resume it.
        console.click("#rollout-pause")
        console.confirm("Pause this rollout?")
        console.wait("PAUSED", lambda: console.text("#rollout-status") == "PAUSED")
        assert console.visible("#rollout-resume") and not console.all("#rollout-pause")
        console.shot("rollout-paused")
        console.click("#rollout-resume")
        console.confirm("Resume this rollout?")
        console.wait("COMPLETE", lambda: console.text("#rollout-status") == "COMPLETE", seconds=90)
        console.wait("the counts", lambda: "4 completed" in console.text("#rollout-counts"))
        assert len(console.all("#rollout-instances tr[data-status=COMPLETED]")) == 4
        assert not console.all("#rollout-controls button"), "a finished rollout offers no control but retry after a failure"
        console.shot("rollout-complete")

        # A second rollout that node-03 fails: its reason in the table and on its page.
        server.call("PATCH", f"/service/{service}/image-config/{config}", {"imageTag": "3"}, token)
        server.call("POST", f"/service/{service}/image-config/{config}/release", None, token)
        driver.get(server.base + f"/ui/#/service/{service}/image-config/{config}")
        console.wait("the image config page", lambda: console.visible("#start-rollout"))
        console.click("#review-rollout")
        console.wait("the plan", lambda: console.visible("#plan"))
        console.confirm("Start this rollout?")
        console.wait("FAILED", lambda: console.text("#rollout-status") == "FAILED", seconds=90)
        Select(console.find("#instance-filter")).select_by_value("FAILED")
        console.wait("only the failed instance", lambda: [row.get_attribute("data-status") for row in console.all("#rollout-instances tbody tr")] == ["FAILED"])
        reason = console.text("#rollout-instances tbody tr .reason")
        assert "disk full on node-03" in reason, reason
        assert console.visible("#rollout-retry")
        console.shot("rollout-failed")
        console.click_link("node-03")
        console.wait("the instance page", lambda: console.visible("#instance"))
        assert "disk full on node-03" in console.text("#instance"), console.text("#instance")
        console.shot("instance")

        # A viewer sees everything and no write button.
        console.click("#signout")
        console.wait("the sign-in form", lambda: console.visible("#signin"))
        assert driver.execute_script("return sessionStorage.getItem('slipway.session')") is None
        console.sign_in(*VIEWER)
        console.wait("the services", lambda: console.visible("#services"))
        driver.get(server.base + f"/ui/#/service/{service}/image-config/{config}")
        console.wait("the image config page", lambda: console.visible("#image-config") and console.visible("#latest-rollout"))
        assert not console.all("#release") and not console.all("#start-rollout"), "a viewer gets no write buttons"
        driver.get(server.base + f"/ui/rollout?service={service}&imageConfig={config}")
        console.wait("the rollout page at its older address", lambda: console.visible("#rollout") and console.text("#rollout-status") == "FAILED")
        assert not console.all("#rollout-controls button"), "a viewer gets no rollout controls"
        console.shot("viewer")
        print(f"console test passed; {console.shots} screenshots in {arguments.screenshots}")
    finally:
        if console:
            console.quit()
        for agent in agents:
            agent.kill()
            agent.wait()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"console test FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
