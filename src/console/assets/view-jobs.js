// Jobs (API.md 9, 10): the list, and one job whose log follows the event stream live, with
// its final status and exit code, and Cancel while it runs.

import * as api from "./api.js";
import { h, fill, slot, act, confirm, badge, table, shown } from "./dom.js";
import { timeEl } from "./format.js";

export const FINAL = new Set(["done", "error", "cancelled", "succeeded", "failed"]);
const MAX_LINES = 5000;

export function statusBadge(job) {
  const failed = job.status === "error" || job.status === "cancelled" || job.status === "failed" || (FINAL.has(job.status) && job.exit_code !== 0 && job.exit_code !== undefined);
  const kind = !FINAL.has(job.status) ? "live" : failed ? (job.status === "done" ? "warn" : "bad") : "good";
  return badge(job.status, kind);
}

function exitCode(job) {
  if (!FINAL.has(job.status) || job.exit_code === undefined || job.exit_code === -1) return h("span", { class: "muted" }, "—");
  return String(job.exit_code);
}

/** A jobs table; `showRepo` adds the repository column. */
export function jobsTable(jobs, showRepo = true) {
  const rows = jobs.map((j) =>
    h(
      "tr",
      { "data-id": j.id },
      h("td", {}, h("a", { href: "/jobs/" + encodeURIComponent(j.id), class: "mono" }, j.id)),
      showRepo ? h("td", {}, h("a", { href: "/repos/" + encodeURIComponent(j.repo ?? "") }, j.repo ?? "")) : null,
      h("td", {}, j.kind, j.dry_run ? h("small", { class: "muted" }, " (dry run)") : null),
      h("td", {}, statusBadge(j)),
      h("td", {}, timeEl(j.started_at)),
      h("td", {}, timeEl(j.finished_at)),
      h("td", { class: "num" }, exitCode(j)),
    ),
  );
  const columns = ["Job", showRepo ? "Repository" : null, "Kind", "Status", "Started", "Finished", "Exit code"].filter(Boolean);
  return table(columns, rows, "No jobs yet.");
}

export async function jobsView(main, _params, ctx) {
  ctx.title("Jobs");
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const status = slot();
  fill(main, h("h1", { tabindex: "-1" }, "Jobs"), h("p", { class: "hint" }, "Check, prune and compact runs, newest first. Start one from a repository's page."), status, h("section", { class: "card", "aria-label": "Jobs" }, list));
  let live = false;
  let tick = 0;
  async function load() {
    try {
      const jobs = await api.get(api.path("jobs"), { signal: ctx.signal });
      status.clear();
      live = jobs.some((j) => !FINAL.has(j.status));
      fill(list, jobsTable(jobs));
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }
  // Every 3 s while a job runs, else every 30 s.
  ctx.every(3000, () => {
    tick += 1;
    if (live || tick % 10 === 0) return load();
  });
  ctx.onResume(load);
  await load();
}

export async function jobView(main, [id], ctx) {
  ctx.title("Job " + id);
  const facts = h("dl", { class: "facts" });
  const statusEl = h("p", { class: "job-status", id: "job-status", role: "status", "aria-live": "polite" }, "Loading…");
  const cancel = h("button", { type: "button", class: "danger", hidden: true, id: "cancel-job" }, "Cancel job");
  const result = slot();
  const log = h("div", { class: "log", id: "job-log", role: "log", tabindex: "0", "aria-label": "Job output" });
  const follow = h("input", { type: "checkbox", checked: true, id: "follow-log" });
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Job ", h("span", { class: "mono" }, id)),
    h("section", { class: "card", "aria-label": "Job" }, facts, h("div", { class: "title-row" }, statusEl, cancel), result),
    h(
      "section",
      { class: "card", "aria-labelledby": "log-h" },
      h("div", { class: "title-row" }, h("h2", { id: "log-h" }, "Output"), h("div", { class: "field check" }, follow, h("label", { for: "follow-log" }, "Follow the end"))),
      log,
    ),
  );

  let lines = 0;
  function addLine(text) {
    const atEnd = follow.checked;
    log.append(h("div", { class: "line" }, shown(text)));
    lines += 1;
    if (lines > MAX_LINES) {
      log.firstChild?.remove();
      lines -= 1;
    }
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  function showStatus(status, exit) {
    const final = FINAL.has(status);
    statusEl.dataset.status = status;
    const text = final ? `Finished: ${status}${exit !== undefined && exit !== -1 ? `, exit code ${exit}` : ""}` : status === "queued" ? "Queued…" : "Running…";
    fill(statusEl, statusBadge({ status, exit_code: exit }), " ", text);
    statusEl.dataset.exitCode = String(exit ?? "");
    cancel.hidden = final;
  }

  function showFacts(job) {
    fill(
      facts,
      h("dt", {}, "Repository"),
      h("dd", {}, h("a", { href: "/repos/" + encodeURIComponent(job.repo ?? "") }, job.repo ?? "")),
      h("dt", {}, "Kind"),
      h("dd", {}, job.kind, job.dry_run ? " (dry run)" : ""),
      h("dt", {}, "Started"),
      h("dd", {}, timeEl(job.started_at)),
      h("dt", {}, "Finished"),
      h("dd", {}, timeEl(job.finished_at, "not yet")),
    );
  }

  cancel.addEventListener("click", async () => {
    const yes = await confirm({ title: "Cancel this job?", message: "borg is interrupted (SIGINT) and releases the repository lock.", confirmLabel: "Cancel job", danger: true });
    if (!yes) return;
    const job = await act(cancel, result, () => api.del(api.path("jobs", id)));
    if (job) {
      result.ok("Cancel requested; waiting for borg to stop.");
      cancel.disabled = true;
    }
  });

  let job;
  try {
    job = await api.get(api.path("jobs", id), { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) return;
    fill(statusEl, "");
    result.error(error);
    return;
  }
  showFacts(job);
  showStatus(job.status, job.exit_code);
  ctx.title(`Job ${id} (${job.kind} ${job.repo ?? ""})`);
  if (FINAL.has(job.status)) {
    for (const line of job.log_tail ?? []) addLine(line);
    return;
  }

  // Live: the stream replays the log tail, then follows; after `end` the server closes it
  // and GET /jobs/{id} gives finished_at. A dropped stream is reopened (the replay starts
  // the log over).
  let attempts = 0;
  let following = false;
  const run = async () => {
    if (following) return;
    following = true;
    try {
      await followStream();
    } finally {
      following = false;
    }
  };
  const followStream = async () => {
    while (!ctx.signal.aborted) {
      log.replaceChildren();
      lines = 0;
      let ended = false;
      try {
        await api.stream(
          id,
          (event) => {
            if (event.type === "log") addLine(event.line ?? "");
            else if (event.type === "status" || event.type === "end") {
              showStatus(event.status, event.exit_code);
              if (event.type === "end") ended = true;
            }
          },
          ctx.signal,
        );
      } catch (error) {
        if (ctx.signal.aborted) return;
        result.error(error);
        if (error.status && error.status !== 0) return; // 401, 404: nothing to retry
      }
      if (ctx.signal.aborted) return;
      try {
        job = await api.get(api.path("jobs", id), { signal: ctx.signal });
        showFacts(job);
        showStatus(job.status, job.exit_code);
      } catch (error) {
        if (!ctx.signal.aborted) result.error(error);
        return;
      }
      if (ended || FINAL.has(job.status)) return;
      attempts += 1;
      if (attempts > 5) {
        result.error(new Error("The job's stream keeps closing; reload the page to try again."));
        return;
      }
      await new Promise((r) => setTimeout(r, 1000 * attempts));
    }
  };
  ctx.onResume(() => {
    if (job && !FINAL.has(job.status)) run();
  });
  run();
}
