import Digest
import Accounts
import FoundationEssentials

/// The dashboard: one self-contained page (inline CSS and JS, SVG charts, no build step, no
/// CDN). It reads the admin functions with the session cookie; the key is typed once into the
/// login form and never appears in a URL or in page storage.
enum DashboardPage {
    static let style = """
        :root{--navy:#0A1B2B;--blue:#2B6CB0;--ok:#38A169;--warn:#DD6B20;--err:#E53E3E;--bg:#F4F6F9;--line:#DCE1E8;--muted:#5A6878}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--navy);font:14px/1.45 Inter,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
        header{background:var(--navy);color:#fff;padding:12px 24px;display:flex;align-items:center;gap:16px}
        header h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.02em}
        header .dot{width:10px;height:10px;border-radius:50%;background:var(--ok);display:inline-block}
        header .spacer{flex:1}
        header small{color:#B8C4D2}
        main{padding:20px 24px;max-width:1280px;margin:0 auto}
        section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px;margin-bottom:18px}
        h2{font-size:15px;margin:0 0 12px}
        table{width:100%;border-collapse:collapse}
        th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
        th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
        td.n{font-variant-numeric:tabular-nums;text-align:right}
        th.n{text-align:right}
        .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;background:var(--blue)}
        .badge.paused{background:var(--warn)}
        .dead{color:var(--err);font-weight:600}
        .done{color:var(--ok)}
        button{font:inherit;border:0;border-radius:6px;padding:4px 12px;cursor:pointer;background:var(--blue);color:#fff}
        button.warn{background:var(--warn)}
        button.quiet{background:transparent;color:#fff;border:1px solid #56687C}
        .errors{margin:4px 0 0;padding-left:18px;color:var(--muted);font-size:12px}
        .errors li span{color:var(--err)}
        #login{max-width:380px;margin:80px auto}
        #login input{width:100%;padding:8px;border:1px solid var(--line);border-radius:6px;margin:8px 0 12px;font:inherit}
        #login p.err{color:var(--err);min-height:1.4em;margin:0}
        .legend span{margin-right:14px;font-size:12px}
        .legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
        .legend i.ok{background:var(--ok)}
        .legend i.err{background:var(--err)}
        .empty{color:var(--muted)}
        [hidden]{display:none!important}
        """

    static let script = """
        "use strict";
        const $ = (s) => document.querySelector(s);
        const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
        const fmt = (v) => v === null || v === undefined ? "–" : (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : String(v));
        let timer = null;
        let csrf = (document.querySelector('meta[name="conveyor-csrf"]') || {}).content || "";
        async function api(method, path, body) {
          const headers = body ? {"content-type": "application/json"} : {};
          if (method !== "GET") headers["x-csrf-token"] = csrf;
          const r = await fetch(path, {method, credentials: "same-origin", headers, body: body ? JSON.stringify(body) : undefined});
          if (r.status === 401) { showLogin(); throw new Error("login"); }
          const json = await r.json();
          if (!r.ok) throw new Error(json.error ? json.error.message : r.status);
          return json;
        }
        function showLogin() { clearInterval(timer); timer = null; $("#app").hidden = true; $("#login").hidden = false; }
        function showApp() { $("#login").hidden = true; $("#app").hidden = false; refresh(); if (!timer) timer = setInterval(refresh, 5000); }
        $("#login form").addEventListener("submit", async (e) => {
          e.preventDefault();
          const key = $("#key").value; $("#key").value = "";
          const r = await fetch("/v1/dashboard/login", {method: "POST", credentials: "same-origin", headers: {"content-type": "application/json"}, body: JSON.stringify({key})});
          if (r.ok) { csrf = (await r.json()).csrfToken; $("#login-error").textContent = ""; showApp(); }
          else { $("#login-error").textContent = r.status === 429 ? "Too many refused logins; wait a while." : "That key was not accepted."; }
        });
        $("#logout").addEventListener("click", async () => { await fetch("/v1/dashboard/logout", {method: "POST", credentials: "same-origin"}); csrf = ""; showLogin(); });
        function queues(data) {
          const rows = data.queues.map((q) => {
            const c = q.counts, h = q.lastHour;
            return `<tr data-queue="${esc(q.queue)}"><td>${esc(q.queue)} ${q.paused ? '<span class="badge paused">paused</span>' : ""}</td>` +
              ["waiting", "delayed", "active", "completed", "dead", "cancelled"].map((k) => `<td class="n" data-count="${k}">${c[k]}</td>`).join("") +
              `<td class="n">${fmt(q.oldestWaitingSeconds)}</td><td class="n">${fmt(h.runTimeMs.p50)} / ${fmt(h.runTimeMs.p95)}</td>` +
              `<td class="n">${fmt(h.waitTimeMs.p50)} / ${fmt(h.waitTimeMs.p95)}</td>` +
              `<td><button class="${q.paused ? "" : "warn"}" data-pause="${esc(q.queue)}" data-paused="${q.paused}">${q.paused ? "Resume" : "Pause"}</button></td></tr>`;
          });
          $("#queues tbody").innerHTML = rows.join("") || '<tr><td colspan="11" class="empty">No queues yet.</td></tr>';
        }
        function targets(data) {
          const main = ["2xx", "3xx", "4xx", "5xx", "timeout"];
          const rows = (data.targets || []).map((t) => {
            const a = t.answers, other = Object.keys(a).filter((k) => !main.includes(k)).map((k) => `${esc(k)} ${a[k]}`).join(", ");
            return `<tr data-target="${esc(t.kind)}"><td>${esc(t.kind)}</td><td>${esc(t.queue)}</td>` +
              main.map((k) => `<td class="n" data-answer="${k}">${a[k] || 0}</td>`).join("") +
              `<td>${other}</td><td class="n">${fmt(t.runTimeMs.p50)} / ${fmt(t.runTimeMs.p95)}</td></tr>`;
          });
          $("#targets tbody").innerHTML = rows.join("") || '<tr><td colspan="9" class="empty">No deliveries yet.</td></tr>';
        }
        function schedules(data) {
          const rows = (data.schedules || []).map((s) =>
            `<tr data-schedule="${esc(s.orgId + "/" + s.name)}" data-next="${esc(s.nextRunAt || "")}"><td class="n">${esc(s.orgId)}</td><td>${esc(s.name)}` +
            ` ${s.paused ? '<span class="badge paused">paused</span>' : ""}</td><td><code>${esc(s.cron)}</code></td><td>${esc(s.timeZone)}</td>` +
            `<td>${esc(s.job.kind)} → ${esc(s.job.queue || "")}</td><td>${s.nextRunAt ? new Date(s.nextRunAt).toLocaleString() : "—"}</td>` +
            `<td class="n">${esc(s.missedSlots)}</td></tr>`);
          $("#schedules tbody").innerHTML = rows.join("") || '<tr><td colspan="7" class="empty">No schedules yet.</td></tr>';
        }
        function chart(data) {
          const W = 1180, H = 180, P = 28, n = 60, done = new Array(n).fill(0), failed = new Array(n).fill(0);
          data.queues.forEach((q) => q.lastHour.perMinute.forEach((m, i) => { done[i] += m.completed; failed[i] += m.failed; }));
          const max = Math.max(1, ...done.map((d, i) => d + failed[i]));
          const x = (i) => P + i * (W - 2 * P) / n, bw = (W - 2 * P) / n - 2, y = (v) => H - P - v * (H - 2 * P) / max;
          let bars = "";
          for (let i = 0; i < n; i++) {
            bars += `<rect x="${x(i)}" y="${y(done[i])}" width="${bw}" height="${H - P - y(done[i])}" fill="#38A169"><title>${done[i]} completed</title></rect>`;
            bars += `<rect x="${x(i)}" y="${y(done[i] + failed[i])}" width="${bw}" height="${y(done[i]) - y(done[i] + failed[i])}" fill="#E53E3E"><title>${failed[i]} failed</title></rect>`;
          }
          const axis = `<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="#DCE1E8"/>` +
            `<text x="${P}" y="${H - 8}" font-size="11" fill="#5A6878">60 min ago</text><text x="${W - P}" y="${H - 8}" font-size="11" fill="#5A6878" text-anchor="end">now</text>` +
            `<text x="${P - 4}" y="${y(max) + 4}" font-size="11" fill="#5A6878" text-anchor="end">${max}</text>`;
          $("#throughput").innerHTML = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="jobs per minute">${axis}${bars}</svg>`;
          $("#throughput-total").textContent = `${done.reduce((a, b) => a + b, 0)} completed, ${failed.reduce((a, b) => a + b, 0)} failed in the last hour`;
        }
        function errors(job) {
          return job.errors.length ? '<ul class="errors">' + job.errors.map((e) => `<li>attempt ${e.attempt} · ${esc(e.at.slice(11, 19))} · <span>${esc(e.message)}</span></li>`).join("") + "</ul>" : "";
        }
        function jobs(selector, list, action) {
          $(selector + " tbody").innerHTML = list.jobs.map((j) => `<tr data-job="${j.id}" data-state="${j.state}"><td>${j.id}</td><td>${esc(j.queue)}</td><td>${esc(j.kind)}</td>` +
            `<td class="${j.state === "dead" ? "dead" : ""}">${j.state}</td><td class="n">${j.attempt}/${j.maxAttempts}</td><td>${esc((j.finishedAt || j.startedAt || j.runAt).replace("T", " ").slice(0, 19))}${errors(j)}</td>` +
            `<td>${action ? `<button class="${action === "cancel" ? "warn" : ""}" data-${action}="${j.id}">${action === "retry" ? "Retry" : "Cancel"}</button>` : ""}</td></tr>`).join("") ||
            '<tr><td colspan="7" class="empty">None.</td></tr>';
        }
        async function refresh() {
          try {
            const [metrics, running, dead, waiting, plans] = await Promise.all([api("GET", "/v1/metrics/queues"), api("GET", "/v1/admin/jobs?state=running&limit=20"),
              api("GET", "/v1/admin/jobs?state=dead&limit=20"), api("GET", "/v1/admin/jobs?state=available&limit=20"), api("GET", "/v1/admin/schedules?limit=50")]);
            queues(metrics); targets(metrics); schedules(plans); chart(metrics); jobs("#running", running, null); jobs("#dead", dead, "retry"); jobs("#waiting", waiting, "cancel");
            $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
            document.body.dataset.refreshed = String(Date.now());
          } catch (e) { if (e.message !== "login") $("#updated").textContent = "refresh failed: " + e.message; }
        }
        document.addEventListener("click", async (e) => {
          const b = e.target.closest("button"); if (!b) return;
          try {
            if (b.dataset.retry) await api("POST", `/v1/admin/jobs/${b.dataset.retry}/retry`);
            else if (b.dataset.cancel) await api("POST", `/v1/admin/jobs/${b.dataset.cancel}/cancel`);
            else if (b.dataset.pause) await api("POST", `/v1/queues/${encodeURIComponent(b.dataset.pause)}/${b.dataset.paused === "true" ? "resume" : "pause"}`);
            else return;
            refresh();
          } catch (err) { if (err.message !== "login") $("#updated").textContent = "action failed: " + err.message; }
        });
        fetch("/v1/metrics/queues", {credentials: "same-origin"}).then((r) => r.ok ? showApp() : showLogin(), showLogin);
        """

    /// The page; with a live session it names the session's CSRF token (hex, so it needs no escaping).
    static func page(csrfToken: String?) -> String {
        guard let csrfToken else { return html }
        guard let at = html.firstRange(of: "<title>") else { return html }
        return html[..<at.lowerBound] + "<meta name=\"conveyor-csrf\" content=\"\(csrfToken)\">" + html[at.lowerBound...]
    }

    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Conveyor dashboard</title><style>\(style)</style></head>
        <body>
        <header><span class="dot"></span><h1>Conveyor</h1><span class="spacer"></span><small id="updated"></small><button id="logout" class="quiet">Log out</button></header>
        <div id="login" hidden><section><h2>Sign in</h2><form><label for="key">Admin key</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required><p id="login-error" class="err"></p><button type="submit">Sign in</button></form></section></div>
        <main id="app" hidden>
        <section><h2>Queues</h2><table id="queues"><thead><tr><th>Queue</th><th class="n">Waiting</th><th class="n">Delayed</th><th class="n">Active</th>
        <th class="n">Completed</th><th class="n">Dead</th><th class="n">Cancelled</th><th class="n">Oldest wait s</th><th class="n">Run ms p50/p95</th>
        <th class="n">Wait ms p50/p95</th><th></th></tr></thead><tbody></tbody></table></section>
        <section><h2>Targets</h2><table id="targets"><thead><tr><th>Kind</th><th>Queue</th><th class="n">2xx</th><th class="n">3xx</th>
        <th class="n">4xx</th><th class="n">5xx</th><th class="n">Time-outs</th><th>Other answers</th><th class="n">Run ms p50/p95</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Schedules</h2><table id="schedules"><thead><tr><th class="n">Org</th><th>Name</th><th>Cron</th><th>Time zone</th>
        <th>Job</th><th>Next run</th><th class="n">Missed</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Throughput, last hour</h2><div class="legend"><span><i class="ok"></i>completed</span><span><i class="err"></i>failed</span>
        <span id="throughput-total"></span></div><div id="throughput"></div></section>
        <section><h2>Running</h2><table id="running"><thead><tr><th>Id</th><th>Queue</th><th>Kind</th><th>State</th><th class="n">Attempt</th><th>Since</th><th></th></tr></thead><tbody></tbody></table></section>
        <section><h2>Dead</h2><table id="dead"><thead><tr><th>Id</th><th>Queue</th><th>Kind</th><th>State</th><th class="n">Attempt</th><th>Died · errors</th><th></th></tr></thead><tbody></tbody></table></section>
        <section><h2>Waiting</h2><table id="waiting"><thead><tr><th>Id</th><th>Queue</th><th>Kind</th><th>State</th><th class="n">Attempt</th><th>Runs at · errors</th><th></th></tr></thead><tbody></tbody></table></section>
        </main>
        <script>\(script)</script>
        </body></html>
        """

    /// Inline code runs only if its hash is listed: nothing injected into the page could run.
    static let contentSecurityPolicy = "default-src 'none'; script-src '\(hash(script))'; style-src '\(hash(style))'; "
        + "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func hash(_ text: String) -> String {
        "sha256-" + Data(SHA256.hash(Array(text.utf8))).base64EncodedString()
    }
}
