// The demo's dashboard: it calls the same endpoints as any client, with the bearer token.
"use strict";

const API = "/ccadmin/v1/importProcess";
const EXPORT_API = "/ccadmin/v1/exportProcess";
const ABORTABLE = new Set(["pending", "processing", "paused", "blocked"]);
const REFRESH_MS = 500;
const TOKEN_KEY = "demoBearerToken";
let refreshTimer = null;
// The parallel imports whose chunks are shown, kept across refreshes.
const opened = new Set();

class ApiError extends Error {}

function bearerToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// The token may come in the address's fragment (#token=...), which is never sent to a server.
function takeTokenFromAddress() {
  const match = /[#&]token=([^&]*)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  document.getElementById("token").value = bearerToken();
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${bearerToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const message = answer && answer.message ? answer.message : response.statusText;
    throw new ApiError(`${response.status}: ${message}`);
  }
  return answer;
}

function notify(text, isError = false) {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.classList.toggle("error", isError);
  notice.hidden = false;
}

function cell(row, className, ...children) {
  const td = row.insertCell();
  td.className = `col-${className}`;
  td.append(...children);
  return td;
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

// What ended it, when the demo did rather than its worker: a forced stop, or a lost worker.
const END_REASONS = {
  stop_deadline: "forced",
  worker_lost: "worker lost",
  shutdown: "shutdown",
  chunk_failed: "another chunk failed",
};

function stateText(process) {
  if (process.endReason) return `${process.progress} (${END_REASONS[process.endReason]})`;
  if (process.workerLost) return `${process.progress}, worker lost`;
  if (process.abortRequested && !process.completed) return `${process.progress}, stopping`;
  return process.progress;
}

// Who asked for the abort that counted, and why.
function abortedBy(process) {
  if (!process.abortedBy) return "";
  return process.abortReason ? `${process.abortedBy}: ${process.abortReason}` : process.abortedBy;
}

function progressCell(row, process) {
  cell(row, "progress",
    element("progress", { max: 100, value: process.completedPercentage }),
    element("span", { className: "percentage", textContent: `${process.completedPercentage} %` }));
}

function recordsCell(row, written, total) {
  const of = total === null || total === undefined ? "" : ` / ${total}`;
  cell(row, "records", element("span", { className: "written", textContent: written }), of);
}

// A parallel import's chunks, each a row of its own under the import's, while it is opened.
function renderChunks(body, process) {
  process.chunks.forEach((chunk, index) => {
    const row = body.insertRow();
    row.className = "chunk";
    row.dataset.chunkOf = process.processId;
    row.dataset.progress = chunk.progress;
    cell(row, "id", `chunk ${index + 1} of ${process.chunks.length}`);
    cell(row, "state", element("span", {
      className: `state ${chunk.progress}`,
      textContent: chunk.endReason ? `${chunk.progress} (${END_REASONS[chunk.endReason]})` : chunk.progress,
    }));
    cell(row, "executor", "");
    progressCell(row, chunk);
    recordsCell(row, chunk.recordsWritten, chunk.recordsTotal);
    cell(row, "aborted-by", "");
    cell(row, "started", when(chunk.startTime));
    cell(row, "ended", when(chunk.endTime));
    cell(row, "actions", "");
  });
}

function chunksToggle(process) {
  const isOpen = opened.has(process.processId);
  const toggle = element("button", {
    className: "chunks-toggle",
    type: "button",
    textContent: `${isOpen ? "▾" : "▸"} ${process.chunks.length} chunks`,
  });
  toggle.setAttribute("aria-expanded", String(isOpen));
  toggle.addEventListener("click", () => {
    if (isOpen) opened.delete(process.processId);
    else opened.add(process.processId);
    refresh();
  });
  return toggle;
}

// A process's row, as both tables show it: its id, state, executor, bar, records, who aborted
// it, and when it started and ended.
function processRow(body, process) {
  const row = body.insertRow();
  row.dataset.processId = process.processId;
  row.dataset.progress = process.progress;
  cell(row, "id", element("code", { textContent: process.processId }));
  cell(row, "state", element("span", {
    className: `state ${process.progress}`,
    textContent: stateText(process),
  }));
  cell(row, "executor", process.executor || "");
  progressCell(row, process);
  recordsCell(row, process.recordsWritten, process.recordsTotal);
  cell(row, "aborted-by", abortedBy(process));
  cell(row, "started", when(process.startTime));
  cell(row, "ended", when(process.endTime));
  return row;
}

// Its Abort, while it can still be aborted: asks why, then calls the kind's abort.
function abortCell(row, process, kind, api) {
  const actions = cell(row, "actions");
  if (ABORTABLE.has(process.progress) && !process.abortRequested) {
    const button = element("button", { className: "abort", type: "button", textContent: "Abort" });
    button.addEventListener("click", () => {
      const reason = prompt(`Why abort this ${kind}? (optional)`, "");
      if (reason !== null) abortProcess(process.processId, reason.trim(), api);
    });
    actions.append(button);
  }
}

function render(processes) {
  const body = document.querySelector("#processes tbody");
  body.replaceChildren();
  for (const process of processes) {
    const row = processRow(body, process);
    if (process.chunks) row.cells[0].append(" ", chunksToggle(process));
    abortCell(row, process, "import", API);
    if (process.chunks && opened.has(process.processId)) renderChunks(body, process);
  }
  document.getElementById("empty").hidden = processes.length > 0;
}

// The exports, each with its bar, its Abort while it runs, and its file once it has succeeded.
function renderExports(exports) {
  const body = document.querySelector("#exports tbody");
  body.replaceChildren();
  for (const process of exports) {
    const row = processRow(body, process);
    const file = process.links.find((link) => link.rel === "file");
    const fileCell = cell(row, "file");
    if (file) {
      const button = element("button", { className: "download", type: "button", textContent: "Download" });
      button.addEventListener("click", () => download(process.processId));
      fileCell.append(button);
    }
    abortCell(row, process, "export", EXPORT_API);
  }
  document.getElementById("no-exports").hidden = exports.length > 0;
}

// The file is behind the bearer token: fetched with it, then handed to the browser.
async function download(processId) {
  try {
    const response = await fetch(`${EXPORT_API}/${encodeURIComponent(processId)}/file`, {
      headers: { Authorization: `Bearer ${bearerToken()}` },
    });
    if (!response.ok) throw new ApiError(`${response.status}: ${response.statusText}`);
    const link = element("a", { href: URL.createObjectURL(await response.blob()), download: `${processId}.json` });
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (error) {
    notify(error.message, true);
  }
}

// The notices of OCC's Import Complete webhook the demo's own receiver took, when it is on.
function renderNotices(items) {
  const body = document.querySelector("#notices tbody");
  body.replaceChildren();
  for (const notice of items) {
    const row = body.insertRow();
    row.dataset.processId = notice.processId;
    cell(row, "id", element("code", { textContent: notice.processId }));
    cell(row, "state", element("span", { className: `state ${notice.progress}`, textContent: notice.progress }));
    cell(row, "succeeded", String(notice.result.successCount));
    cell(row, "failed", String(notice.result.failureCount));
    cell(row, "received", when(notice.receivedAt));
  }
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const { items } = await call("GET", `${API}?limit=20`);
    render(items);
    const exports = (await call("GET", `${EXPORT_API}?limit=20`)).items;
    renderExports(exports);
    const notices = document.getElementById("notices");
    let waiting = false;
    if (notices) {
      const taken = await call("GET", "/demo/webhooks");
      renderNotices(taken.items);
      const noticed = new Set(taken.items.map((notice) => notice.processId));
      waiting = items.some((process) => process.completed && !noticed.has(process.processId));
    }
    const running = [...items, ...exports].some((process) => !process.completed);
    if (waiting || running) {
      refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  } catch (error) {
    notify(error.message, true);
  }
}

async function startImport(fileName) {
  try {
    const job = { fileName, mode: "standalone", id: "Products", format: "json" };
    const { processId } = await call("POST", API, job);
    notify(`Import ${processId} submitted.`);
  } catch (error) {
    notify(error.message, true);
  }
  await refresh();
}

async function startExport() {
  try {
    const { processId } = await call("POST", EXPORT_API);
    notify(`Export ${processId} submitted.`);
  } catch (error) {
    notify(error.message, true);
  }
  await refresh();
}

async function abortProcess(processId, reason = "", api = API) {
  try {
    const body = reason ? { reason } : undefined;
    await call("POST", `${api}/${encodeURIComponent(processId)}/abort`, body);
    const what = api === EXPORT_API ? "an export" : "an import";
    notify(`Abort of ${processId} passed on: ${what} stops after the batch it is writing.`);
  } catch (error) {
    notify(error.message, true);
  }
  await refresh();
}

function onSubmit(id, action) {
  document.getElementById(id).addEventListener("submit", (event) => {
    event.preventDefault();
    action();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromAddress();
  onSubmit("credentials", () => {
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    refresh();
  });
  onSubmit("start", () => startImport(document.getElementById("file-name").value.trim()));
  onSubmit("export", () => startExport());
  onSubmit("abort-by-id", () => abortProcess(document.getElementById("process-id").value.trim()));
  refresh();
});
