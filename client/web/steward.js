// @ts-check
/**
 * The steward panel: on a sanctuary page, when the token this browser holds is
 * a steward's here, a "Steward" button joins the top bar. The panel talks to the
 * steward HTTP API (Authorization: Bearer): the Harmony policy, members with role
 * and origin and moderation buttons, invite links, and the audit log. Tokens
 * themselves live in tokens.js. Nothing happens on import: the page calls
 * `mountStewardPanel()`.
 */

import { claimsOf, tokenFor } from "./tokens.js";

// -- the panel ------------------------------------------------------------------

/**
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {(Node | string)[]} children
 * @returns {any}
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, String(v));
  }
  el.append(...children);
  return el;
}

class StewardPanel {
  /** @param {string} sanctuary @param {string} token */
  constructor(sanctuary, token) {
    this.sanctuary = sanctuary;
    this.token = token;
    /** @type {Map<string, string>} identity id -> name, from the members and the audit */
    this.names = new Map();
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
    this.status = h("p", { class: "steward-status", role: "status", "aria-live": "polite" });
    this.policyForm = h("form", { class: "steward-policy", id: "steward-policy" });
    this.members = h("div", { class: "steward-members" });
    this.invites = h("div", { class: "steward-invites" });
    this.audit = h("ol", { class: "steward-audit", id: "steward-audit" });
    const tabs = ["policy", "members", "invites", "audit"];
    this.sections = {
      policy: h("section", {}, this.policyForm),
      members: h("section", { hidden: true }, this.members),
      invites: h("section", { hidden: true }, this.invites),
      audit: h("section", { hidden: true }, this.audit),
    };
    this.tabBar = h(
      "div",
      { class: "steward-tabs", role: "tablist" },
      ...tabs.map((t) => h("button", { type: "button", dataset: { tab: t }, onclick: () => this.show(t) }, t[0].toUpperCase() + t.slice(1))),
    );
    this.root = h(
      "aside",
      { class: "panel steward-panel", id: "steward-panel", hidden: true, "aria-label": "Steward" },
      h("header", {}, h("b", {}, "Steward"), h("button", { type: "button", class: "close", title: "Close", onclick: () => this.toggle(false) }, "✕")),
      this.tabBar,
      ...Object.values(this.sections),
      this.status,
    );
    document.body.append(this.root);
    this.tab = "policy";
  }

  /** @param {string} method @param {string} path @param {any} [body] */
  async api(method, path, body) {
    const res = await fetch(`/api/sanctuaries/${encodeURIComponent(this.sanctuary)}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data?.error?.message ?? `the server answered ${res.status}`);
    return data;
  }

  /** @param {string} text @param {boolean} [bad] */
  say(text, bad = false) {
    this.status.textContent = text;
    this.status.classList.toggle("bad", bad);
  }

  /** @param {() => Promise<any>} fn @param {string} done */
  async run(fn, done) {
    try {
      await fn();
      this.say(done);
    } catch (err) {
      this.say(String(/** @type {any} */ (err).message ?? err), true);
    }
    await this.refresh();
  }

  /** @param {boolean} [open] */
  toggle(open = this.root.hidden) {
    this.root.hidden = !open;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (open) {
      this.show(this.tab);
      this.timer = setInterval(() => {
        const busy = this.root.contains(document.activeElement) && /^(SELECT|INPUT)$/.test(document.activeElement?.tagName ?? "");
        if ((this.tab === "members" || this.tab === "audit") && !busy) this.refresh(); // never under the steward's cursor
      }, 3000);
    }
  }

  /** @param {string} tab */
  show(tab) {
    this.tab = tab;
    for (const [name, el] of Object.entries(this.sections)) el.hidden = name !== tab;
    for (const b of this.tabBar.children) b.classList.toggle("on", b.dataset.tab === tab);
    this.refresh();
  }

  async refresh() {
    try {
      if (this.tab === "policy") this.renderPolicy((await this.api("GET", "/policy")).policy);
      else if (this.tab === "members") this.renderMembers(await this.api("GET", "/members"));
      else if (this.tab === "invites") this.renderInvites((await this.api("GET", "/invites")).invites);
      else {
        const [members, audit] = await Promise.all([this.api("GET", "/members"), this.api("GET", "/audit?limit=200")]);
        for (const p of [...members.connected, ...members.banned]) if (p.name) this.names.set(p.id, p.name);
        this.renderAudit(audit.audit);
      }
    } catch (err) {
      this.say(String(/** @type {any} */ (err).message ?? err), true);
    }
  }

  // -- policy ---------------------------------------------------------------------
  /** @param {Record<string, any>} p */
  renderPolicy(p) {
    const f = this.policyForm;
    if (f.contains(document.activeElement)) return; // do not overwrite what the steward is typing
    const select = (/** @type {string} */ name, /** @type {string[]} */ options) =>
      h("select", { name }, ...options.map((o) => h("option", { value: o, selected: p[name] === o }, o)));
    f.replaceChildren(
      h("label", {}, "Access ", select("access", ["open", "invite"])),
      h("label", {}, "AI share cap ", h("input", { name: "ai_share_cap", id: "steward-cap", type: "number", min: 0, max: 1, step: 0.05, value: p.ai_share_cap })),
      h("label", {}, "AI ops/min per weaver ", h("input", { name: "ai_rate_per_weaver", type: "number", min: 0, step: 1, value: p.ai_rate_per_weaver })),
      h("label", {}, "AI ops/min, all weavers ", h("input", { name: "ai_rate_total", type: "number", min: 0, step: 1, value: p.ai_rate_total })),
      h("label", {}, "Consent ", select("consent", ["never", "consent", "always"])),
      h("label", {}, "Weaver allow-list ", h("input", { name: "weaver_allow", placeholder: "any weaver", value: (p.weaver_allow ?? []).join(", ") })),
      h("label", { class: "check" }, h("input", { name: "locked", type: "checkbox", checked: !!p.locked }), " Lock the canvas (only stewards write)"),
      h("button", { type: "submit", id: "steward-save" }, "Save policy"),
    );
    f.onsubmit = (/** @type {Event} */ e) => {
      e.preventDefault();
      const v = (/** @type {string} */ n) => f.elements.namedItem(n);
      const changes = {
        access: v("access").value,
        ai_share_cap: Number(v("ai_share_cap").value),
        ai_rate_per_weaver: Math.round(Number(v("ai_rate_per_weaver").value)),
        ai_rate_total: Math.round(Number(v("ai_rate_total").value)),
        consent: v("consent").value,
        weaver_allow: v("weaver_allow").value.split(/[\s,]+/).filter(Boolean),
        locked: v("locked").checked,
      };
      // Only what the steward changed: the audit then says just that.
      const changed = Object.fromEntries(Object.entries(changes).filter(([k, val]) => JSON.stringify(val) !== JSON.stringify(p[k] ?? (k === "weaver_allow" ? [] : null))));
      /** @type {HTMLElement} */ (document.activeElement)?.blur?.();
      if (!Object.keys(changed).length) return this.say("Nothing changed.");
      this.run(() => this.api("PATCH", "/policy", changed), "Policy saved: everyone has it now.");
    };
  }

  // -- members --------------------------------------------------------------------
  /** @param {any} m */
  renderMembers(m) {
    const act = (/** @type {Record<string, any>} */ body, /** @type {string} */ done) => () =>
      this.run(() => this.api("POST", "/moderation", body), done);
    const me = claimsOf(this.token)?.sub;
    for (const p of [...m.connected, ...m.banned]) if (p.name) this.names.set(p.id, p.name);
    const rows = m.connected.map((/** @type {any} */ p) => {
      if (p.id === me) {
        // Your own row: nothing to kick, ban, mute or demote yourself with.
        return h("li", { dataset: { identity: p.id }, class: "me" },
          h("span", { class: "who" }, h("i", { class: "dot", style: `background:${p.color}` }), `${p.name || p.id} (you)`),
          h("span", { class: `badge role-${p.role}` }, p.role));
      }
      const roles = p.origin === "ai" ? ["weaver", "viewer"] : ["steward", "dreamer", "viewer"];
      const role = h("select", { title: "Role here", onchange: (/** @type {any} */ e) => act({ action: "role", identity: p.id, role: e.target.value }, `${p.name} is now a ${e.target.value}.`)() },
        ...roles.map((r) => h("option", { value: r, selected: r === p.role }, r)));
      const actions = [
        role,
        p.muted_until
          ? h("button", { type: "button", onclick: act({ action: "unmute", identity: p.id }, `${p.name} may write again.`) }, "Unmute")
          : h("button", { type: "button", onclick: act({ action: "mute", identity: p.id, seconds: 600 }, `${p.name} is muted for 10 minutes.`) }, "Mute 10 min"),
        h("button", { type: "button", onclick: act({ action: "kick", identity: p.id }, `${p.name} was removed.`) }, "Kick"),
        h("button", { type: "button", class: "danger", onclick: act({ action: "ban", identity: p.id }, `${p.name} is banned.`) }, "Ban"),
      ];
      if (p.token) actions.push(h("button", { type: "button", onclick: act({ action: "revoke", jti: p.token }, `${p.name}'s token is revoked.`) }, "Revoke token"));
      if (p.origin === "ai") {
        actions.push(h("button", {
          type: "button",
          title: "Undo everything this weaver did in the last 10 minutes (undoable from the audit log)",
          onclick: act({ action: "rollback", identity: p.id, since_time: Date.now() / 1000 - 600 }, `${p.name}'s last 10 minutes are rolled back.`),
        }, "Roll back 10 min"));
      }
      return h("li", { dataset: { identity: p.id } },
        h("span", { class: "who" }, h("i", { class: "dot", style: `background:${p.color}` }), p.name || p.id),
        h("span", { class: `badge role-${p.role}` }, p.role),
        h("span", { class: `badge origin-${p.origin}` }, p.origin === "ai" ? "AI" : "organic"),
        h("span", { class: "actions" }, ...actions));
    });
    const banned = m.banned.map((/** @type {any} */ b) =>
      h("li", {}, h("span", { class: "who" }, b.name || b.id), h("span", { class: "badge" }, "banned"),
        h("button", { type: "button", onclick: act({ action: "unban", identity: b.id }, `${b.name || b.id} may come back.`) }, "Unban")));
    const removeSelected = () =>
      this.run(async () => {
        /** @type {string[]} */
        const ids = /** @type {any} */ (globalThis).dreamloom?.selection ?? [];
        if (!ids.length) throw new Error("select fragments on the canvas first");
        for (const id of ids) await this.api("POST", "/moderation", { action: "remove", fragment: id });
      }, "Selected fragments removed.");
    this.members.replaceChildren(
      h("ul", { class: "steward-list" }, ...rows),
      rows.length ? "" : h("p", { class: "muted" }, "Nobody is connected."),
      banned.length ? h("h4", {}, "Banned") : "",
      h("ul", { class: "steward-list" }, ...banned),
      h("h4", {}, "Remove fragments"),
      h("p", { class: "muted" }, "Pick a fragment on the canvas, or select several (V, then click or drag) and remove them."),
      h("div", { class: "row" },
        h("button", { type: "button", id: "steward-pick", onclick: () => this.pick() }, "Pick on canvas"),
        h("button", { type: "button", id: "steward-remove-selected", onclick: removeSelected }, "Remove selected")),
    );
  }

  /** The next fragment picked on the canvas is removed (Esc, or picking nothing, cancels). */
  pick() {
    window.dispatchEvent(new CustomEvent("dreamloom:pick"));
    this.say("Click the fragment to remove on the canvas (Esc cancels).");
    const done = (/** @type {any} */ e) => {
      window.removeEventListener("dreamloom:selection", done);
      removeEventListener("keydown", cancel);
      const ids = /** @type {string[]} */ (e.detail ?? []);
      if (!ids.length) return this.say("Nothing picked.");
      this.run(async () => {
        for (const id of ids) await this.api("POST", "/moderation", { action: "remove", fragment: id });
      }, ids.length === 1 ? "Fragment removed." : `${ids.length} fragments removed.`);
    };
    const cancel = (/** @type {KeyboardEvent} */ e) => {
      if (e.key !== "Escape") return;
      window.removeEventListener("dreamloom:selection", done);
      removeEventListener("keydown", cancel);
      this.say("Pick cancelled.");
    };
    window.addEventListener("dreamloom:selection", done);
    addEventListener("keydown", cancel);
  }

  // -- invites --------------------------------------------------------------------
  /** @param {any[]} list */
  renderInvites(list) {
    const role = h("select", {}, ...["dreamer", "weaver", "viewer", "steward"].map((r) => h("option", { value: r }, r)));
    const name = h("input", { placeholder: "name (shown to others)", maxlength: 64 });
    const days = h("input", { type: "number", min: 1, max: 366, value: 7, title: "valid for (days)", style: "width:4em" });
    const out = h("div", { class: "steward-invite-out" });
    const form = h("form", { class: "row", onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      try {
        const inv = await this.api("POST", "/invites", { role: role.value, name: name.value.trim(), ttl: Number(days.value) * 86400 });
        const text = inv.role === "weaver" ? inv.token : inv.url;
        const field = h("input", { readonly: true, value: text, onfocus: (/** @type {any} */ ev) => ev.target.select() });
        out.replaceChildren(
          h("p", {}, inv.role === "weaver" ? "Token for the weaver (run it with --token):" : `Link for ${inv.name || "a " + inv.role}:`),
          field,
          h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(text) }, "Copy"),
        );
        this.say("Invite created.");
      } catch (err) {
        this.say(String(/** @type {any} */ (err).message ?? err), true);
      }
      this.renderInviteList(await this.api("GET", "/invites").then((d) => d.invites, () => []));
    } }, role, name, days, h("button", { type: "submit" }, "Create invite"));
    this.inviteList = h("ul", { class: "steward-list" });
    this.invites.replaceChildren(form, out, h("h4", {}, "Invites"), this.inviteList);
    this.renderInviteList(list);
  }

  /** @param {any[]} list */
  renderInviteList(list) {
    if (!this.inviteList) return;
    this.inviteList.replaceChildren(...list.map((i) => {
      const state = i.revoked ? "revoked" : i.expired ? "expired" : `until ${new Date(i.exp * 1000).toLocaleDateString()}`;
      return h("li", {},
        h("span", { class: "who" }, i.name || i.sub), h("span", { class: `badge role-${i.role}` }, i.role), h("small", {}, state),
        i.revoked || i.expired ? "" : h("button", { type: "button", onclick: () => this.run(() => this.api("DELETE", `/invites/${i.jti}`), "Invite revoked: its connections are closed.") }, "Revoke"));
    }));
  }

  // -- audit ----------------------------------------------------------------------
  /** @param {any[]} entries */
  renderAudit(entries) {
    for (const e of entries) if (e.by_name) this.names.set(e.by, e.by_name);
    this.audit.replaceChildren(...entries.map((e) => {
      const undo = e.act === "rollback" || e.act === "undo_rollback"
        ? h("button", { type: "button", onclick: () => this.run(() => this.api("POST", "/moderation", { action: "undo_rollback", rollback: e.rollback }), "Undone.") }, "Undo")
        : "";
      const when = new Date(e.time * 1000);
      return h("li", { dataset: { act: e.act } },
        h("time", { datetime: when.toISOString(), title: when.toLocaleString() }, when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
        h("span", { class: "sentence" }, auditSentence(e, this.names)), undo);
    }));
  }
}

const POLICY_WORDS = /** @type {Record<string, (v: any) => string>} */ ({
  access: (v) => (v === "invite" ? "made the sanctuary invite-only" : "opened the sanctuary to anyone with the link"),
  ai_share_cap: (v) => `set the AI share cap to ${Math.round(Number(v) * 100)}%`,
  ai_rate_per_weaver: (v) => `allowed each weaver ${v} ops a minute`,
  ai_rate_total: (v) => `allowed all weavers ${v} ops a minute together`,
  consent: (v) => (v === "never" ? "kept weavers from changing people's work" : v === "always" ? "let weavers change anyone's work" : "let weavers change only work marked remixable"),
  weaver_allow: (v) => (Array.isArray(v) && v.length ? `allowed only these weavers: ${v.join(", ")}` : "allowed any weaver"),
  locked: (v) => (v ? "locked the canvas" : "unlocked the canvas"),
});

/**
 * One audit entry as a sentence, with people's names rather than their ids.
 * @param {any} e an audit entry @param {Map<string, string>} names identity id -> name
 */
export function auditSentence(e, names) {
  const who = (/** @type {any} */ id) => (typeof id === "string" ? names.get(id) ?? id : "someone");
  const by = e.by_name || who(e.by);
  const target = who(e.target);
  const plural = (/** @type {number} */ n, /** @type {string} */ word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  switch (e.act) {
    case "policy": {
      const parts = Object.entries(e.changes ?? {}).map(([k, v]) => (POLICY_WORDS[k] ? POLICY_WORDS[k](v) : `set ${k} to ${JSON.stringify(v)}`));
      return `${by} ${parts.length ? parts.join(", ") : "saved the policy unchanged"}.`;
    }
    case "mute": {
      const seconds = Number(e.seconds);
      const span = seconds >= 60 ? plural(Math.round(seconds / 60), "minute") : plural(seconds, "second");
      return `${by} muted ${target} for ${span}.`;
    }
    case "unmute":
      return `${by} unmuted ${target}.`;
    case "kick":
      return `${by} removed ${target} from the sanctuary.`;
    case "ban":
      return `${by} banned ${target}${e.reason ? ` (${e.reason})` : ""}.`;
    case "unban":
      return `${by} lifted the ban on ${target}.`;
    case "role":
      return e.role ? `${by} made ${target} a ${e.role}.` : `${by} gave ${target} back their usual role.`;
    case "invite":
      return `${by} invited ${e.label ? e.label : `a ${e.role}`}${e.label ? ` as a ${e.role}` : ""}.`;
    case "revoke":
      return `${by} revoked an access token${e.target ? ` of ${target}` : ""}.`;
    case "remove":
      return `${by} removed a fragment.`;
    case "rollback":
      return `${by} rolled back ${plural(Number(e.ops ?? 0), "edit")} by ${target} on ${plural(Number(e.fragments?.length ?? 0), "fragment")}.`;
    case "undo_rollback":
      return `${by} undid a rollback of ${target} (${plural(Number(e.ops ?? 0), "edit")}).`;
    default:
      return `${by}: ${e.act}.`;
  }
}

/** Add the steward button to a sanctuary page when this browser holds a steward token for it. */
export async function mountStewardPanel() {
  const match = location.pathname.match(/^\/s\/([^/]+)\/?$/);
  if (!match) return;
  const sanctuary = decodeURIComponent(match[1]);
  const token = tokenFor(sanctuary);
  if (!token) return;
  let me;
  try {
    const res = await fetch(`/api/sanctuaries/${encodeURIComponent(sanctuary)}/me`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) return;
    me = await res.json();
  } catch {
    return; // offline: the panel is for a connected steward, the page works without it
  }
  if (me.role !== "steward") return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/steward.css" }));
  const panel = new StewardPanel(sanctuary, token);
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("class", "ic");
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", "#i-steward");
  icon.append(use);
  const button = h("button", { type: "button", id: "steward-button", class: "steward-button bar-button", title: "Steward: policy, members, invites, audit", onclick: () => panel.toggle() },
    icon, h("span", { class: "wide-only" }, "Steward"));
  const bar = document.querySelector(".topbar");
  if (bar) bar.insertBefore(button, document.getElementById("help-button"));
  else document.body.append(button);
}
