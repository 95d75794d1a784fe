// An OCC admin client as OCC teams' scripting clients are written: it knows an instance's address
// and an application key, nothing more. It verifies the instance, reads the registry, signs in,
// keeps its token fresh (a third of its remaining life), and calls operations by their id.
// Node.js 18 or newer, no dependencies.
//
//   node occ-client.mjs <base URL> <application key> <command> [arguments...]
//
// Commands (each prints one JSON line a step):
//   connect                          verify, registry, login, refresh
//   abort <fileName>                 executeImport, abortImportProcess, poll getImportProcess
//   export <fileName>                executeImport (a part of it, aborted), then executeExport,
//                                    abortExportProcess, poll getExportProcess
//   error <language> <operation> <argument>   the error of a call, as the client shows it

const PROFILE_TYPE = "adminUI";

class OccError extends Error {
  constructor(status, body) {
    super(`OCC Error ${body.errorCode}: ${body.message}`);
    this.status = status;
    this.body = body;
  }
}

class OccClient {
  constructor(base, applicationKey, { api = "ccadminui", language = "en", site = "siteUS" } = {}) {
    this.base = base.replace(/\/$/, "");
    this.applicationKey = applicationKey;
    this.api = api;
    this.language = language;
    this.site = site;
    this.endpoints = null;
    this.accessToken = null;
    this.refreshTimer = null;
    // Call an operation by its id: client.abortImportProcess(token).
    return new Proxy(this, {
      get(target, name, receiver) {
        if (name in target || typeof name !== "string") return Reflect.get(target, name, receiver);
        return (...args) => target.call(name, ...args);
      },
    });
  }

  headers(extra = {}) {
    return {
      "x-ccsite": this.site,
      "x-ccasset-language": this.language,
      "x-ccprofiletype": PROFILE_TYPE,
      ...extra,
    };
  }

  async connect() {
    const verified = await fetch(`${this.base}/${this.api}/v1/verify`, { headers: this.headers() });
    if (!verified.ok) throw new Error(`verify answered ${verified.status}`);
    const version = verified.headers.get("OracleCommerceCloud-Version");
    const registry = await fetch(`${this.base}/${this.api}/v1/registry`, { headers: this.headers() });
    if (!registry.ok) throw new Error(`registry answered ${registry.status}`);
    this.endpoints = (await registry.json()).endpointMap;
    return { version, operations: Object.keys(this.endpoints).sort() };
  }

  endpoint(id) {
    const found = this.endpoints && this.endpoints[id];
    if (!found) throw new Error(`the registry has no operation ${id}`);
    return found;
  }

  // Sign in with the application key; the form OCC's login takes.
  login() {
    return this.exchange("login", this.applicationKey, { grant_type: "client_credentials" }, "sign-in");
  }

  // A new token for the current one.
  refresh() {
    return this.exchange("refresh", this.accessToken, undefined, "refresh");
  }

  async exchange(id, bearer, form, what) {
    const endpoint = this.endpoint(id);
    const answer = await fetch(`${this.base}${endpoint.url}`, {
      method: endpoint.method,
      headers: this.headers({
        Authorization: `Bearer ${bearer}`,
        "Content-Type": "application/x-www-form-urlencoded",
      }),
      body: form && new URLSearchParams(form),
    });
    const body = await answer.json();
    if (!answer.ok) throw new Error(`${what} failed: ${body.error_description}`);
    this.accessToken = body.access_token;
    return { expiresIn: body.expires_in, refreshIn: this.scheduleRefresh() };
  }

  // The token's exp, from its payload, as OCC's clients read it: no key, no check.
  expiry() {
    const payload = this.accessToken.split(".")[1];
    return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")).exp;
  }

  // Refresh at a third of the remaining life; the delay in seconds.
  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const remaining = this.expiry() - Date.now() / 1000;
    const delay = Math.max(0, remaining / 3);
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), delay * 1000);
    this.refreshTimer.unref();
    return delay;
  }

  async call(id, ...args) {
    const endpoint = this.endpoint(id);
    let url = endpoint.url;
    if (endpoint.hasPathParams) {
      for (const value of args.splice(0, (url.match(/\{\}/g) || []).length)) {
        url = url.replace("{}", encodeURIComponent(value));
      }
    }
    const [body] = args;
    const headers = this.headers(endpoint.authRequired ? { Authorization: `Bearer ${this.accessToken}` } : {});
    const init = { method: endpoint.method, headers };
    if (endpoint.method !== "GET") {
      // As Oracle's own tools do: JSON declared on every request, an empty body included.
      headers["Content-Type"] = "application/json";
      if (body !== undefined) init.body = JSON.stringify(body);
    }
    const answer = await fetch(`${this.base}${url}`, init);
    const text = await answer.text();
    const parsed = text ? JSON.parse(text) : {};
    if (!answer.ok || (parsed && parsed.errorCode)) throw new OccError(answer.status, parsed);
    return parsed;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (step, value) => console.log(JSON.stringify({ step, ...value }));

async function main() {
  const [base, key, command, ...rest] = process.argv.slice(2);
  const client = new OccClient(base, key);
  say("connect", await client.connect());
  if (command === "error") {
    const [language, operation, argument] = rest;
    await client.login();
    client.language = language;
    try {
      await client[operation](argument);
      say("error", { shown: null });
    } catch (error) {
      say("error", { shown: error.message, status: error.status });
    }
    return;
  }
  const first = await client.login();
  const firstToken = client.accessToken;
  say("login", { ...first, exp: client.expiry() });
  if (command === "connect") {
    const renewed = await client.refresh();
    say("refresh", { ...renewed, renewed: client.accessToken !== firstToken });
    return;
  }
  const [fileName] = rest;
  if (command === "export") return exportAndAbort(client, fileName);
  const started = await client.executeImport({ fileName, mode: "standalone", id: "Products", format: "json" });
  say("executeImport", started);
  const deadline = Date.now() + 30_000;
  let status;
  do { // until it has written a batch: the abort lands mid-import
    await sleep(100);
    status = await client.getImportProcess(started.processId);
  } while (status.completedPercentage === 0 && !status.completed && Date.now() < deadline);
  say("running", status);
  await client.refresh(); // the token changes mid-import, as it does after a third of its life
  say("abortImportProcess", await client.abortImportProcess(started.processId));
  do {
    await sleep(200);
    status = await client.getImportProcess(started.processId);
  } while (!status.completed && Date.now() < deadline);
  say("getImportProcess", status);
}

// Until ``ended(status)`` or 30 s: the status of ``id`` by the operation ``read``.
async function poll(client, read, id, ended, every = 100) {
  const deadline = Date.now() + 30_000;
  let status;
  do {
    await sleep(every);
    status = await client[read](id);
  } while (!ended(status) && Date.now() < deadline);
  return status;
}

// Products to export first (a quarter of the file, the import then aborted), then an export of
// them, aborted once it has written a page, and read until it has ended.
async function exportAndAbort(client, fileName) {
  const imported = await client.executeImport({ fileName, mode: "standalone", id: "Products", format: "json" });
  const written = await poll(client, "getImportProcess", imported.processId, (s) => s.completedPercentage >= 25 || s.completed);
  say("imported", written);
  await client.abortImportProcess(imported.processId);
  await poll(client, "getImportProcess", imported.processId, (s) => s.completed);
  const started = await client.executeExport();
  say("executeExport", started);
  const running = await poll(client, "getExportProcess", started.processId, (s) => s.completedPercentage > 0 || s.completed);
  say("exporting", running);
  say("abortExportProcess", await client.abortExportProcess(started.processId));
  say("getExportProcess", await poll(client, "getExportProcess", started.processId, (s) => s.completed, 200));
  try {
    await client.abortImportProcess(started.processId);
    say("crossed", { shown: null });
  } catch (error) {
    say("crossed", { shown: error.message, status: error.status });
  }
}

main().catch((error) => {
  console.log(JSON.stringify({ step: "failed", error: error.message }));
  process.exit(1);
});
