// The Slipway console: a client of the same API the CLI and the SDKs use, under the same authorization.
// It holds no data of its own. The session (access and refresh token) lives in this tab's
// sessionStorage, never in a URL or localStorage. Every value reaches the page as text (textContent,
// attributes set one by one), never as markup, and ids are checked before they go into a path.
"use strict";

(() => {
  const API = "/2022-09-01-00";
  const SESSION = "slipway.session";
  const ID = /^[A-Za-z0-9._-]{1,128}$/;
  const LIVE = ["SCHEDULED", "PENDING", "PENDING_DEPENDENCY", "RUNNING", "PAUSED"];
  const PARTS = ["completed", "failed", "inProgress", "rollingBack", "rolledBack", "skipped"];
  const INSTANCE_STATUSES = ["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SKIPPED", "ROLLING_BACK", "ROLLED_BACK"];
  const $ = (id) => document.getElementById(id);

  // ---- elements -------------------------------------------------------------------------------

  /** An element with attributes (`on…` keys are listeners) and children (strings become text). */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
      else if (key === "class") element.className = value;
      else element.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }

  /** A link inside the console; each part is an id or a fixed word, encoded. */
  const href = (...parts) => "#/" + parts.map(encodeURIComponent).join("/");
  const link = (text, ...parts) => h("a", { href: href(...parts) }, text);
  const badge = (status) => h("span", { class: "status " + String(status || "").replace(/[^A-Za-z_]/g, "") }, status || "–");
  const mono = (text) => h("span", { class: "mono" }, text);
  const when = (rfc3339) => (rfc3339 ? new Date(rfc3339).toLocaleString() : "–");
  /** A table; `rows` is a list of rows, or a tbody the caller keeps to fill later. */
  const table = (headings, rows, attributes) =>
    h("table", attributes || {}, h("thead", {}, h("tr", {}, headings.map((name) => h("th", {}, name)))),
      rows instanceof HTMLTableSectionElement ? rows : h("tbody", {}, rows));
  const facts = (pairs) => h("dl", { class: "facts" }, pairs.filter(Boolean).map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
  const short = (digest) => (digest ? digest.replace(/^sha256:([0-9a-f]{12}).*$/, "sha256:$1…") : "not pinned");

  // ---- session --------------------------------------------------------------------------------

  const session = {
    get() {
      try { return JSON.parse(sessionStorage.getItem(SESSION) || "null"); } catch { return null; }
    },
    set(value) { sessionStorage.setItem(SESSION, JSON.stringify(value)); },
    clear() { sessionStorage.removeItem(SESSION); },
    /** What the access token says about its user (display only: the server decides every request). */
    claims() {
      const current = this.get();
      if (!current) return null;
      try {
        const payload = current.jwtToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        return JSON.parse(decodeURIComponent(escape(atob(payload))));
      } catch { return null; }
    },
    canWrite() {
      const claims = this.claims();
      return !!claims && (claims.role === "admin" || claims.role === "editor");
    },
  };

  // ---- the API --------------------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, body, fallback) {
      super((body && body.message) || fallback || "HTTP " + status);
      this.status = status;
      this.errorId = body && body.id;
      this.errorName = body && body.name;
    }
  }

  let refreshing = null;

  /** One API call; answers `{status, value, etag}` (304 answers no value). */
  async function call(method, path, body, headers, retried) {
    const sent = Object.assign({}, headers);
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const current = session.get();
    if (current) sent["Authorization"] = "Bearer " + current.jwtToken;
    let reply;
    try {
      reply = await fetch(API + path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch (error) {
      throw new APIError(0, null, "cannot reach the server (" + error.message + ")");
    }
    if (reply.status === 304) return { status: 304, etag: reply.headers.get("ETag") };
    const text = await reply.text();
    let value = null;
    try { value = text ? JSON.parse(text) : null; } catch { value = null; }
    if (reply.status === 401 && current && !retried && !path.startsWith("/signin")) {
      // An expired access token: renew it once with the refresh token, then ask again.
      if (await renew(current)) return call(method, path, body, headers, true);
      signedOut("Your session has ended; sign in again.");
    }
    if (!reply.ok) throw new APIError(reply.status, value, text);
    return { status: reply.status, value, etag: reply.headers.get("ETag") };
  }

  async function renew(current) {
    refreshing = refreshing || (async () => {
      try {
        const reply = await fetch(API + "/refresh-token", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken: current.refreshToken }),
        });
        if (!reply.ok) return false;
        const tokens = await reply.json();
        session.set({ jwtToken: tokens.jwtToken, refreshToken: tokens.refreshToken });
        return true;
      } catch { return false; } finally { setTimeout(() => { refreshing = null; }, 0); }
    })();
    return refreshing;
  }

  /** Every item of a paged list. */
  async function all(path, key) {
    const items = [];
    let token = null;
    do {
      const separator = path.includes("?") ? "&" : "?";
      const page = await call("GET", path + separator + "pageSize=1000" + (token ? "&nextPageToken=" + encodeURIComponent(token) : ""));
      items.push(...(page.value[key] || []));
      token = page.value.nextPageToken;
    } while (token);
    return items;
  }

  const servicePath = (service) => "/service/" + encodeURIComponent(service);
  const imageConfigPath = (service, config) => servicePath(service) + "/image-config/" + encodeURIComponent(config);

  // ---- messages -------------------------------------------------------------------------------

  function showProblem(error) {
    const box = $("problem");
    const text = error instanceof APIError && error.errorId ? error.message + " (error id " + error.errorId + ")" : error.message || String(error);
    box.replaceChildren(text);
    box.hidden = false;
  }
  function hideProblem() { $("problem").hidden = true; $("problem").replaceChildren(); }

  /** Asks before a change; resolves true on Confirm. */
  function confirmAction(text, detail, confirmLabel) {
    const dialog = $("confirm");
    $("confirm-text").replaceChildren(text);
    $("confirm-detail").replaceChildren(...(detail ? [detail] : []));
    $("confirm-ok").replaceChildren(confirmLabel || "Confirm");
    return new Promise((resolve) => {
      const done = (answer) => () => {
        $("confirm-ok").onclick = null;
        $("confirm-cancel").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      $("confirm-ok").onclick = done(true);
      $("confirm-cancel").onclick = done(false);
      dialog.onclose = done(false);
      dialog.showModal();
    });
  }

  /** Runs a change the user asked for; the server's refusal is shown with its error id. */
  async function act(button, change) {
    button.disabled = true;
    hideProblem();
    try { await change(); } catch (error) { showProblem(error); } finally { button.disabled = false; }
  }

  // ---- navigation -----------------------------------------------------------------------------

  let generation = 0;
  let stopLive = null;

  function trail(...crumbs) {
    const nav = $("trail");
    nav.replaceChildren();
    crumbs.forEach(([text, target], index) => {
      if (index) nav.append(h("span", { class: "sep" }, "›"));
      nav.append(target ? h("a", { href: target }, text) : h("span", {}, text));
    });
  }

  function signedOut(message) {
    session.clear();
    if (stopLive) { stopLive(); stopLive = null; }
    $("who").hidden = true;
    $("view").replaceChildren();
    trail();
    $("signin").hidden = false;
    if (message) showProblem(new Error(message));
  }

  function showIdentity() {
    const claims = session.claims();
    $("identity").replaceChildren(claims ? claims.email + " (" + claims.role + ")" : "");
    $("who").hidden = false;
    $("signin").hidden = true;
  }

  async function route() {
    if (stopLive) { stopLive(); stopLive = null; }
    const mine = ++generation;
    hideProblem();
    if (!session.get()) { signedOut(); return; }
    showIdentity();
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map((part) => {
      try { return decodeURIComponent(part); } catch { return ""; }
    });
    const view = $("view");
    if (!parts.every((part) => ID.test(part))) {
      view.replaceChildren();
      showProblem(new Error("There is no such page in the console."));
      return;
    }
    view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    const current = () => mine === generation;
    const [a, service, b, second, c, third] = parts;
    try {
      let page;
      if (parts.length === 0) page = await servicesView();
      else if (a === "service" && parts.length === 2) page = await serviceView(service);
      else if (a === "service" && b === "image-config" && parts.length === 4) page = await imageConfigView(service, second, current);
      else if (a === "service" && b === "image-config" && c === "rollout" && parts.length === 5) page = await rolloutView(service, second, current);
      else if (a === "service" && b === "environment" && c === "instances" && parts.length === 5) page = await instancesView(service, second);
      else if (a === "service" && b === "environment" && c === "instance" && parts.length === 6) page = await instanceView(service, second, third);
      else throw new Error("There is no such page in the console.");
      if (current()) view.replaceChildren(page);
    } catch (error) {
      if (!current()) return;
      view.replaceChildren();
      if (session.get()) showProblem(error);
    }
  }

  // ---- views ----------------------------------------------------------------------------------

  async function servicesView() {
    trail(["Services"]);
    const services = await all("/service", "services");
    return h("section", { id: "services" },
      h("h1", {}, "Services"),
      services.length === 0
        ? h("p", { class: "muted" }, "No services yet. Create one with `slipway service create` or POST /2022-09-01-00/service.")
        : h("div", { class: "cards" }, services.map((service) =>
          h("div", { class: "card" }, link(service.name, "service", service.id), h("div", { class: "muted" }, service.description || ""), mono(service.id)))));
  }

  async function serviceView(serviceId) {
    const [service, environments, tiers, registries] = await Promise.all([
      call("GET", servicePath(serviceId)).then((reply) => reply.value),
      all(servicePath(serviceId) + "/environment", "serviceEnvironments"),
      all(servicePath(serviceId) + "/product-tier", "productTiers"),
      all("/image-registry", "imageRegistries"),
    ]);
    trail(["Services", "#/"], [service.name]);
    const hosts = new Map(registries.map((registry) => [registry.id, registry.host]));
    const sections = await Promise.all(environments.map(async (environment) => {
      const ids = await all(servicePath(serviceId) + "/serviceenvironment/" + encodeURIComponent(environment.id) + "/image-config", "ids");
      const configs = await Promise.all(ids.map((id) => call("GET", imageConfigPath(serviceId, id)).then((reply) => reply.value)));
      const environmentTiers = tiers.filter((tier) => tier.serviceEnvironmentId === environment.id);
      return h("section", { class: "environment", "data-environment": environment.id },
        h("h2", {}, "Environment " + environment.name),
        h("div", { class: "actions" }, link("Instances", "service", serviceId, "environment", environment.id, "instances")),
        h("h3", {}, "Image configs"),
        configs.length === 0 ? h("p", { class: "muted" }, "No image configs in this environment.") :
          table(["Image config", "Image", "Registry", "Signature key"], configs.map((config) => h("tr", {},
            h("td", {}, link(config.description || config.id, "service", serviceId, "image-config", config.id), h("div", {}, mono(config.id))),
            h("td", {}, mono(config.imageName + ":" + config.imageTag)),
            h("td", {}, hosts.get(config.imageRegistryId) || config.imageRegistryId),
            h("td", {}, config.imageSignaturePublicKeyPEM ? "set: releases must be signed" : "not set")))),
        h("h3", {}, "Product tiers"),
        environmentTiers.length === 0 ? h("p", { class: "muted" }, "No product tiers in this environment.") :
          table(["Product tier", "Preferred version", "Id"], environmentTiers.map((tier) => h("tr", {},
            h("td", {}, tier.name), h("td", {}, tier.preferredVersion || "none released"), h("td", {}, mono(tier.id))))));
    }));
    return h("section", { id: "service" },
      h("h1", {}, service.name),
      h("p", { class: "muted" }, service.description || "", " ", mono(service.id)),
      environments.length === 0 ? h("p", { class: "muted" }, "No environments yet.") : sections);
  }

  async function imageConfigView(serviceId, configId, current) {
    const [service, config, tiers, registries] = await Promise.all([
      call("GET", servicePath(serviceId)).then((reply) => reply.value),
      call("GET", imageConfigPath(serviceId, configId)).then((reply) => reply.value),
      all(servicePath(serviceId) + "/product-tier", "productTiers"),
      all("/image-registry", "imageRegistries"),
    ]);
    trail(["Services", "#/"], [service.name, href("service", serviceId)], [config.description || config.id]);
    const registry = registries.find((candidate) => candidate.id === config.imageRegistryId);
    const environmentTiers = tiers.filter((tier) => tier.serviceEnvironmentId === config.serviceEnvironmentId);
    const versionSets = await Promise.all(environmentTiers.map((tier) =>
      all(servicePath(serviceId) + "/productTier/" + encodeURIComponent(tier.id) + "/version-set", "tierVersionSets")));
    let rollout = null;
    try { rollout = (await call("GET", imageConfigPath(serviceId, configId) + "/rollout")).value; } catch (error) { if (error.status !== 404) throw error; }
    const history = rollout ? await all(imageConfigPath(serviceId, configId) + "/rollouts", "rollouts") : [];
    const canWrite = session.canWrite();

    const releaseButton = canWrite && h("button", { id: "release", type: "button", class: "primary" }, "Release");
    if (releaseButton) releaseButton.addEventListener("click", () => act(releaseButton, async () => {
      const image = config.imageName + ":" + config.imageTag;
      if (!await confirmAction("Release " + image + " into every product tier of this environment?", null, "Release")) return;
      await call("POST", imageConfigPath(serviceId, configId) + "/release");
      if (current()) await route();
    }));

    const tierSections = environmentTiers.map((tier, index) => h("section", { class: "tier" },
      h("h3", {}, "Product tier " + tier.name),
      versionSets[index].length === 0 ? h("p", { class: "muted" }, "Nothing released yet.") :
        table(["Version", "Status", "Pins", "Released"], versionSets[index].slice().reverse().map((set) => {
          const pinned = (set.imageConfigs || []).find((snapshot) => snapshot.imageConfigId === configId);
          return h("tr", { "data-version": set.version },
            h("td", {}, set.version), h("td", {}, badge(set.status)),
            h("td", {}, pinned ? [mono(pinned.imageRegistryHost + "/" + pinned.imageName + ":" + pinned.imageTag), h("div", {}, mono(short(pinned.imageDigest)))] : "–"),
            h("td", {}, (set.releasedBy || "") + " · " + when(set.releasedAt)));
        }))));

    return h("section", { id: "image-config" },
      h("h1", {}, config.description || config.id),
      facts([
        ["Image", mono(config.imageName + ":" + config.imageTag)],
        ["Registry", registry ? registry.host + (registry.verifyImages ? " (images verified at release)" : "") : config.imageRegistryId],
        ["Signature key", config.imageSignaturePublicKeyPEM ? "set: a release needs a valid cosign signature" : "not set"],
        ["Id", mono(config.id)],
      ]),
      h("div", { class: "actions" }, releaseButton),
      h("h2", {}, "Tier versions"),
      tierSections.length ? tierSections : h("p", { class: "muted" }, "No product tier in this image config's environment."),
      h("h2", {}, "Rollout"),
      rollout
        ? h("div", { id: "latest-rollout" }, badge(rollout.status), " ", rolloutVersions(rollout), " · ",
          link("Open the rollout", "service", serviceId, "image-config", configId, "rollout"))
        : h("p", { class: "muted" }, "Never rolled out."),
      canWrite && (!rollout || !LIVE.includes(rollout.status)) ? startRolloutForm(serviceId, configId) : null,
      history.length > 1 ? [h("h2", {}, "Earlier rollouts"),
        table(["Rollout", "Status", "Versions", "Counts", "Started by"], history.slice().reverse().map((past) => h("tr", {},
          h("td", {}, mono(past.id)), h("td", {}, badge(past.status)), h("td", {}, rolloutVersions(past)),
          h("td", {}, past.completed + " completed, " + past.failed + " failed of " + past.total),
          h("td", {}, past.createdBy + " · " + when(past.createdAt)))))] : null);
  }

  const rolloutVersions = (rollout) => (rollout.sourceVersions.join(", ") || "?") + " → " + rollout.targetVersions.join(", ");

  /** The policy form: it asks for the dry-run plan, shows it, and starts the rollout only on confirmation. */
  function startRolloutForm(serviceId, configId) {
    const number = (name, label, value, min, max) =>
      h("label", {}, label, h("input", { name, type: "number", min, max, value, required: true }));
    const form = h("form", { class: "policy", id: "start-rollout" },
      number("maxConcurrentUpgrades", "Instances at once", 10, 1, 100000),
      number("canaryCount", "Canary instances", 0, 0, 100000),
      number("failureThreshold", "Failures that halt", 1, 1, 100000),
      number("instanceTimeoutSeconds", "Timeout per instance (s)", 600, 1, 86400),
      number("bakeSeconds", "Bake between waves (s)", 0, 0, 86400),
      h("label", { class: "check" }, h("input", { name: "autoRollback", type: "checkbox" }), "Roll back on halt"),
      h("label", {}, "Strategy", h("select", { name: "strategy" },
        h("option", { value: "waves" }, "Waves: each starts when the last has finished"),
        h("option", { value: "window" }, "Window: the next starts as soon as one finishes"))),
      h("label", {}, "Only instances labelled", h("input", { name: "labels", type: "text", placeholder: "region=eu,tier=gold" })),
      h("label", {}, "Start at (empty: now)", h("input", { name: "scheduledAt", type: "datetime-local" })),
      h("label", { class: "check" }, h("input", { name: "pauseAfterCanary", type: "checkbox" }), "Pause after the canary until promoted"),
      h("button", { id: "review-rollout", class: "primary" }, "Review the plan"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = $("review-rollout");
      act(button, async () => {
        const policy = {};
        for (const input of form.querySelectorAll("input[type=number]")) policy[input.name] = Number(input.value);
        policy.autoRollback = form.querySelector("input[name=autoRollback]").checked;
        policy.strategy = form.querySelector("select[name=strategy]").value;
        const labels = form.querySelector("input[name=labels]").value.trim();
        if (labels) {
          const selected = {};
          for (const pair of labels.split(",").map((text) => text.trim()).filter(Boolean)) {
            const equals = pair.indexOf("=");
            if (equals < 1) throw new Error("Labels are key=value pairs separated by commas, such as region=eu; got '" + pair + "'.");
            selected[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
          }
          policy.selector = { labels: selected };
        }
        const startAt = form.querySelector("input[name=scheduledAt]").value;
        if (startAt) policy.scheduledAt = new Date(startAt).toISOString();
        if (form.querySelector("input[name=pauseAfterCanary]").checked) policy.pauseAfterCanary = true;
        const path = imageConfigPath(serviceId, configId) + "/rollout";
        const plan = (await call("POST", path, Object.assign({ dryRun: true }, policy))).value;
        if (plan.eligible.length === 0) throw new Error("No instance would change: every instance already runs the preferred version, or none is registered.");
        if (!await confirmAction("Start this rollout?", planDetail(plan), "Start the rollout")) return;
        await call("POST", path, policy);
        location.hash = href("service", serviceId, "image-config", configId, "rollout");
      });
    });
    return [h("h2", {}, "Start a rollout"), form];
  }

  function planDetail(plan) {
    const waveOf = new Map(plan.eligible.map((instance) => [instance.instanceId, instance.wave]));
    return h("div", { id: "plan" },
      h("p", {}, plan.eligible.length + " instance(s) move" + (plan.policy.strategy === "window"
        ? (plan.policy.canaryCount ? " after a canary wave of " + plan.policy.canaryCount + "," : "") +
          " up to " + plan.policy.maxConcurrentUpgrades + " at a time, the next as soon as one finishes"
        : " in " + plan.waves.length + " wave(s)" + (plan.policy.canaryCount ? ", the first a canary of " + plan.policy.canaryCount : "")) +
        "; " + plan.ineligible.length + " stay as they are."),
      table(["Instance", "Wave", "From", "To"], plan.eligible.map((instance) => h("tr", { class: "eligible" },
        h("td", {}, instance.instanceName), h("td", {}, String(waveOf.get(instance.instanceId) || "")),
        h("td", {}, instance.sourceVersion), h("td", {}, instance.targetVersion || "")))),
      plan.ineligible.length ? table(["Left alone", "Why"], plan.ineligible.map((instance) => h("tr", { class: "ineligible" },
        h("td", {}, instance.instanceName), h("td", {}, instance.reason || "")))) : null);
  }

  async function rolloutView(serviceId, configId, current) {
    const [service, config] = await Promise.all([
      call("GET", servicePath(serviceId)).then((reply) => reply.value),
      call("GET", imageConfigPath(serviceId, configId)).then((reply) => reply.value),
    ]);
    trail(["Services", "#/"], [service.name, href("service", serviceId)],
      [config.description || config.id, href("service", serviceId, "image-config", configId)], ["Rollout"]);
    const path = imageConfigPath(serviceId, configId) + "/rollout";
    const canWrite = session.canWrite();
    const status = h("span", { id: "rollout-status", class: "status" });
    const versions = h("span", { class: "muted", id: "rollout-versions" });
    const bar = h("div", { class: "bar", id: "rollout-bar" });
    const message = h("p", { id: "rollout-message" });
    const counts = h("div", { class: "counts", id: "rollout-counts" });
    const waves = h("p", { class: "muted", id: "rollout-waves" });
    const controls = h("div", { class: "actions", id: "rollout-controls" });
    const filter = h("select", { id: "instance-filter", "aria-label": "Show instances" },
      h("option", { value: "" }, "All instances"), INSTANCE_STATUSES.map((name) => h("option", { value: name }, name)));
    const rows = h("tbody");
    const shown = h("p", { class: "muted", id: "instance-count" });
    let etag = null;
    let last = null;
    let timer = null;

    const control = (verb, label, question, danger) => {
      const button = h("button", { type: "button", id: "rollout-" + verb, class: danger ? "danger" : "" }, label);
      button.addEventListener("click", () => act(button, async () => {
        if (!await confirmAction(question, null, label)) return;
        const reply = await call("POST", path + "/" + verb);
        render(reply.value);
        await refresh(true);
      }));
      return button;
    };

    function render(s) {
      last = s;
      status.className = "status " + s.status;
      status.replaceChildren(s.status);
      versions.replaceChildren(" " + rolloutVersions(s));
      message.replaceChildren(s.message);
      bar.replaceChildren(...PARTS.map((part) => {
        const cell = h("div", { class: part, title: part + ": " + s[part] });
        cell.style.width = (s.total ? (100 * s[part]) / s.total : 0) + "%";
        return cell;
      }));
      const pairs = [["total", s.total], ["pending", s.pending], ["in progress", s.inProgress], ["completed", s.completed], ["failed", s.failed],
        ["skipped", s.skipped], ["rolling back", s.rollingBack], ["rolled back", s.rolledBack]];
      counts.replaceChildren(...pairs.map(([name, value]) => h("span", { "data-count": name }, h("b", {}, String(value)), " " + name)));
      let text = s.policy.strategy === "window" && s.totalWaves > 0 && s.currentWave === s.totalWaves
        ? "window of " + s.policy.maxConcurrentUpgrades
        : "wave " + Math.min(Math.max(s.currentWave, 1), s.totalWaves) + " of " + s.totalWaves;
      if (s.etaSeconds != null && LIVE.includes(s.status)) text += " · about " + Math.ceil(s.etaSeconds) + " s left";
      if (s.status === "SCHEDULED" && s.policy.scheduledAt) text = "scheduled for " + when(s.policy.scheduledAt);
      waves.replaceChildren(text + " · rollout " + s.id + " started by " + s.createdBy + " " + when(s.createdAt));
      const buttons = [];
      if (canWrite) {
        if (["SCHEDULED", "PENDING", "PENDING_DEPENDENCY", "RUNNING"].includes(s.status)) buttons.push(control("pause", "Pause", "Pause this rollout? Instances already upgrading finish; no new instance starts."));
        if (s.awaitingPromotion) buttons.push(control("promote", "Promote", "The canary wave is done. Promote this rollout to the rest of its instances?"));
        else if (s.status === "PAUSED") buttons.push(control("resume", "Resume", "Resume this rollout?"));
        if (LIVE.includes(s.status)) buttons.push(control("cancel", "Cancel", "Cancel this rollout? Instances not started yet are skipped.", true));
        if (["FAILED", "CANCELLED"].includes(s.status)) buttons.push(control("retry", "Retry", "Retry the instances that failed or were skipped?"));
      }
      controls.replaceChildren(...buttons);
    }

    async function loadInstances() {
      const chosen = filter.value;
      const query = "/instances?pageSize=1000" + (chosen ? "&status=" + encodeURIComponent(chosen) : "");
      const page = (await call("GET", path + query)).value;
      const environmentId = last ? last.serviceEnvironmentId : config.serviceEnvironmentId;
      rows.replaceChildren(...page.instances.map((instance) => h("tr", { "data-instance": instance.instanceId, "data-status": instance.status },
        h("td", {}, link(instance.instanceName, "service", serviceId, "environment", environmentId, "instance", instance.instanceId)),
        h("td", {}, String(instance.wave)), h("td", {}, badge(instance.status)),
        h("td", {}, instance.sourceVersion + " → " + instance.targetVersion),
        h("td", {}, when(instance.startedAt)), h("td", {}, when(instance.endedAt)),
        h("td", { class: "reason" }, instance.reason || ""))));
      shown.replaceChildren(page.nextPageToken ? "The first " + page.instances.length + " instances." : page.instances.length + " instance(s).");
    }

    /** One poll: the status answers 304 while nothing changed, and the table is read again only on a change. */
    async function refresh(force) {
      const reply = await call("GET", path, undefined, etag && !force ? { "If-None-Match": etag } : {});
      if (!current()) return;
      if (reply.status !== 304) {
        etag = reply.etag;
        render(reply.value);
        await loadInstances();
      }
    }

    const first = await call("GET", path);
    etag = first.etag;
    render(first.value);
    await loadInstances();
    filter.addEventListener("change", () => loadInstances().catch(showProblem));
    const tick = async () => {
      try { await refresh(false); } catch (error) { if (current()) showProblem(error); }
      if (current()) timer = setTimeout(tick, 1000);
    };
    timer = setTimeout(tick, 1000);
    stopLive = () => clearTimeout(timer);

    return h("section", { id: "rollout" },
      h("h1", {}, "Rollout of " + (config.description || config.id)),
      h("p", {}, status, versions), bar, message, counts, waves, controls,
      h("h2", {}, "Instances"), h("div", { class: "actions" }, filter), shown,
      table(["Instance", "Wave", "Status", "Versions", "Started", "Ended", "Reason"], rows, { id: "rollout-instances" }));
  }

  async function instancesView(serviceId, environmentId) {
    const [service, environment, instances] = await Promise.all([
      call("GET", servicePath(serviceId)).then((reply) => reply.value),
      call("GET", servicePath(serviceId) + "/environment/" + encodeURIComponent(environmentId)).then((reply) => reply.value),
      all(servicePath(serviceId) + "/environment/" + encodeURIComponent(environmentId) + "/instance", "instances"),
    ]);
    trail(["Services", "#/"], [service.name, href("service", serviceId)], ["Instances in " + environment.name]);
    return h("section", { id: "instances" },
      h("h1", {}, "Instances in " + environment.name),
      instances.length === 0 ? h("p", { class: "muted" }, "No instance registered in this environment.") :
        table(["Instance", "Runs", "Told to run", "Health", "Last report"], instances.map((instance) => h("tr", { "data-instance": instance.id },
          h("td", {}, link(instance.name, "service", serviceId, "environment", environmentId, "instance", instance.id)),
          h("td", {}, instance.tierVersion), h("td", {}, instance.desiredTierVersion), h("td", {}, badge(instance.health || "unknown")),
          h("td", {}, instance.lastReport ? [badge(instance.lastReport.status), " " + when(instance.lastReport.reportedAt)] : "never")))));
  }

  async function instanceView(serviceId, environmentId, instanceId) {
    const [service, instance] = await Promise.all([
      call("GET", servicePath(serviceId)).then((reply) => reply.value),
      call("GET", servicePath(serviceId) + "/environment/" + encodeURIComponent(environmentId) + "/instance/" + encodeURIComponent(instanceId))
        .then((reply) => reply.value),
    ]);
    trail(["Services", "#/"], [service.name, href("service", serviceId)],
      ["Instances", href("service", serviceId, "environment", environmentId, "instances")], [instance.name]);
    const report = instance.lastReport;
    return h("section", { id: "instance" },
      h("h1", {}, instance.name),
      facts([
        ["Runs", instance.tierVersion],
        ["Told to run", instance.desiredTierVersion + " (generation " + instance.desiredGeneration + ")"],
        ["Health", badge(instance.health || "unknown")],
        ["Last report", report ? [badge(report.status), " " + when(report.reportedAt) + (report.message ? " · " + report.message : "")] : "never"],
        ["Product tier", mono(instance.productTierId)],
        ["Registered", when(instance.createdAt)],
        ["Id", mono(instance.id)],
      ]),
      h("h2", {}, "Images"),
      (instance.images || []).length === 0 ? h("p", { class: "muted" }, "None yet.") :
        table(["Image config", "Image"], instance.images.map((image) => h("tr", {},
          h("td", {}, link(image.imageConfigId, "service", serviceId, "image-config", image.imageConfigId)), h("td", {}, mono(image.image))))),
      h("h2", {}, "Upgrade history"),
      (instance.upgradeHistory || []).length === 0 ? h("p", { class: "muted" }, "No rollout has moved this instance yet.") :
        table(["Rollout", "Status", "Versions", "Started", "Ended", "Reason"], instance.upgradeHistory.map((step) => h("tr", { "data-rollout": step.rolloutId },
          h("td", {}, mono(step.rolloutId)), h("td", {}, badge(step.status)), h("td", {}, step.sourceVersion + " → " + step.targetVersion),
          h("td", {}, when(step.startedAt)), h("td", {}, when(step.endedAt)), h("td", { class: "reason" }, step.reason || "")))));
  }

  // ---- start ----------------------------------------------------------------------------------

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("signin-submit");
    button.disabled = true;
    hideProblem();
    try {
      const reply = await call("POST", "/signin", { email: $("email").value, password: $("password").value });
      session.set({ jwtToken: reply.value.jwtToken, refreshToken: reply.value.refreshToken });
      $("password").value = "";
      $("signin").hidden = true;
      await route();
    } catch (error) {
      showProblem(error);
    } finally {
      button.disabled = false;
    }
  });

  $("signout").addEventListener("click", async () => {
    const current = session.get();
    try { if (current) await call("POST", "/signout", { refreshToken: current.refreshToken }); } catch { /* signed out here either way */ }
    signedOut();
    location.hash = "#/";
  });

  window.addEventListener("hashchange", route);

  // The older address of a rollout page, /ui/rollout?service=…&imageConfig=…, opens the rollout view.
  const query = new URLSearchParams(location.search);
  if (location.pathname === "/ui/rollout" && ID.test(query.get("service") || "") && ID.test(query.get("imageConfig") || "")) {
    history.replaceState(null, "", "/ui/" + href("service", query.get("service"), "image-config", query.get("imageConfig"), "rollout"));
  }
  route();
})();
