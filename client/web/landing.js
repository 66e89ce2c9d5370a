// @ts-check
/** The landing page: the sanctuaries that exist, and creating one. */

import { getName, setName } from "./app/storage.js";
import { initTheme } from "./app/theme.js";
import { authHeaders, captureToken } from "./tokens.js";

/** @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);

initTheme();

async function list() {
  try {
    const res = await fetch("/api/sanctuaries", { headers: authHeaders("*") });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    /** @type {{id: string, title: string, participants: number, fragments: number, organic: number, ai: number, last_seq: number}[]} */
    const rows = await res.json();
    const body = $("list").querySelector("tbody");
    body.textContent = "";
    rows.sort((a, b) => b.participants - a.participants || b.last_seq - a.last_seq);
    for (const s of rows) {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      const a = document.createElement("a");
      a.href = `/s/${encodeURIComponent(s.id)}`;
      a.textContent = s.title || s.id;
      name.append(a);
      const here = document.createElement("td");
      here.textContent = String(s.participants);
      const frags = document.createElement("td");
      frags.textContent = String(s.fragments);
      const share = document.createElement("td");
      const total = s.organic + s.ai;
      const organic = total ? Math.round((100 * s.organic) / total) : 0;
      share.innerHTML = `<span class="share"><span class="organic" style="width:${organic}%"></span><span class="ai" style="width:${total ? 100 - organic : 0}%"></span></span>`;
      share.append(total ? `${organic}% / ${100 - organic}%` : "—");
      tr.append(name, here, frags, share);
      body.append(tr);
    }
    $("empty").hidden = rows.length > 0;
    $("error").hidden = true;
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = `Could not list sanctuaries: ${err}`;
  }
}

$("create").addEventListener("submit", async (/** @type {Event} */ e) => {
  e.preventDefault();
  const title = $("create-title").value.trim();
  if (!title) return;
  try {
    const res = await fetch("/api/sanctuaries", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body?.error?.message ?? res.status);
    location.href = `/s/${encodeURIComponent(body.id)}`;
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = `Could not create it: ${err}`;
  }
});

const me = $("me");
const showMe = () => {
  const name = getName();
  me.textContent = name ? `You appear as ${name}. ` : "";
  const change = document.createElement("a");
  change.href = "#";
  change.textContent = name ? "Change name" : "Choose a display name";
  change.addEventListener("click", (ev) => {
    ev.preventDefault();
    const next = prompt("Your display name", name ?? "");
    if (next && next.trim()) setName(next.trim().slice(0, 40));
    showMe();
  });
  me.append(change);
};
captureToken(); // a ?token= of the steward link leaves the address bar before anything is listed
showMe();
list();
setInterval(list, 5000);
