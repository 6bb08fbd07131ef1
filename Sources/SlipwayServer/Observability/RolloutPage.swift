import Hummingbird

/// `GET /ui/rollout?service=…&imageConfig=…`: a page that shows a rollout's progress as it happens.
///
/// The page holds no data: its script signs in (the token stays in the tab's session storage) and polls
/// the rollout status operation once a second, so it sees exactly what the API and the CLI see, under
/// the same authorization. Every value goes into the page as text, never as markup.
enum RolloutPage {
    static func response() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .init("X-Content-Type-Options")!: "nosniff",
                .init("Content-Security-Policy")!: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The rollout status fields the script reads (`s.<field>`); a test checks the API answers each of them.
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Slipway rollout</title>
        <style>
          body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #1d2330; }
          h1 { font-size: 1.3rem; } .muted { color: #667; } .error { color: #b00020; }
          .bar { display: flex; height: 1.4rem; border-radius: .3rem; overflow: hidden; background: #e6e8ee; margin: 1rem 0; }
          .bar div { transition: width .4s; } .completed { background: #2e9d5b; } .failed { background: #c9353f; }
          .inProgress { background: #3b7ddd; } .rollingBack { background: #d98a1c; } .rolledBack { background: #8a63c7; } .skipped { background: #9aa1ad; }
          table { border-collapse: collapse; } td { padding: .15rem 1.2rem .15rem 0; }
          .status { font-weight: 600; padding: .1rem .5rem; border-radius: .3rem; background: #e6e8ee; }
          form { display: grid; gap: .5rem; max-width: 20rem; } input, button { font: inherit; padding: .3rem; }
        </style>
        </head>
        <body>
        <h1>Rollout of <span id="target"></span></h1>
        <form id="signin" hidden>
          <p>Sign in to follow this rollout.</p>
          <input id="email" type="email" placeholder="email" autocomplete="username" required>
          <input id="password" type="password" placeholder="password" autocomplete="current-password" required>
          <button>Sign in</button>
        </form>
        <div id="progress" hidden>
          <p><span id="status" class="status"></span> <span id="versions" class="muted"></span></p>
          <div class="bar" id="bar"></div>
          <p id="message"></p>
          <table id="counts"></table>
          <p class="muted" id="waves"></p>
        </div>
        <p id="problem" class="error"></p>
        <script>
        "use strict";
        const query = new URLSearchParams(location.search);
        const service = query.get("service"), imageConfig = query.get("imageConfig");
        const api = "/2022-09-01-00";
        const $ = (id) => document.getElementById(id);
        const show = (id, text) => { $(id).textContent = text; };
        const parts = ["completed", "failed", "inProgress", "rollingBack", "rolledBack", "skipped"];
        const settled = ["COMPLETE", "FAILED", "CANCELLED"];
        let timer = null;

        async function call(method, path, body) {
          const headers = { "Content-Type": "application/json" };
          const token = sessionStorage.getItem("slipway.token");
          if (token) headers["Authorization"] = "Bearer " + token;
          const reply = await fetch(api + path, { method, headers, body: body && JSON.stringify(body) });
          const text = await reply.text();
          const value = text ? JSON.parse(text) : null;
          if (!reply.ok) throw Object.assign(new Error(value && value.message || reply.statusText), { status: reply.status });
          return value;
        }

        function render(s) {
          show("status", s.status);
          show("versions", (s.sourceVersions.join(", ") || "?") + " → " + s.targetVersions.join(", "));
          show("message", s.message);
          const bar = $("bar");
          bar.replaceChildren();
          for (const part of parts) {
            const cell = document.createElement("div");
            cell.className = part;
            cell.style.width = (s.total ? 100 * s[part] / s.total : 0) + "%";
            cell.title = part + ": " + s[part];
            bar.append(cell);
          }
          const rows = [["total", s.total], ["pending", s.pending], ["in progress", s.inProgress], ["completed", s.completed],
            ["failed", s.failed], ["skipped", s.skipped], ["rolling back", s.rollingBack], ["rolled back", s.rolledBack]];
          $("counts").replaceChildren(...rows.map(([name, value]) => {
            const row = document.createElement("tr");
            for (const text of [name, String(value)]) { const cell = document.createElement("td"); cell.textContent = text; row.append(cell); }
            return row;
          }));
          let waves = "wave " + Math.min(s.currentWave + 1, s.totalWaves) + " of " + s.totalWaves;
          if (s.etaSeconds != null && !settled.includes(s.status)) waves += " · about " + Math.ceil(s.etaSeconds) + " s left";
          show("waves", waves + " · rollout " + s.id + " by " + s.createdBy);
          $("progress").hidden = false;
        }

        async function poll() {
          try {
            const s = await call("GET", "/service/" + encodeURIComponent(service) + "/image-config/" + encodeURIComponent(imageConfig) + "/rollout");
            show("problem", "");
            render(s);
            if (settled.includes(s.status)) { clearInterval(timer); timer = null; }
          } catch (error) {
            if (error.status === 401) { sessionStorage.removeItem("slipway.token"); clearInterval(timer); timer = null; $("signin").hidden = false; }
            show("problem", error.message);
          }
        }

        function follow() {
          $("signin").hidden = true;
          poll();
          timer = setInterval(poll, 1000);
        }

        $("signin").addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            const reply = await call("POST", "/signin", { email: $("email").value, password: $("password").value });
            sessionStorage.setItem("slipway.token", reply.jwtToken);
            follow();
          } catch (error) { show("problem", error.message); }
        });

        show("target", imageConfig || "?");
        const id = /^[A-Za-z0-9-]+$/;
        if (!id.test(service || "") || !id.test(imageConfig || "")) show("problem", "Open this page as /ui/rollout?service=<serviceId>&imageConfig=<imageConfigId>.");
        else if (sessionStorage.getItem("slipway.token")) follow();
        else $("signin").hidden = false;
        </script>
        </body>
        </html>
        """#
}
